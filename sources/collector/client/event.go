package client

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// Event is the collector's standard envelope (DESIGN.md, "Records").
type Event struct {
	// EventID is a UUID. Left empty, the client fills in a random (v4) one when the event
	// is queued, so every re-send of the event carries the same ID and the server can
	// tell a re-send from a new event.
	EventID   string `json:"event_id"`
	EventName string `json:"event_name"`
	// OccurredAt left zero is set to the time the event is queued.
	OccurredAt time.Time `json:"occurred_at"`
	Source     string    `json:"source,omitempty"`
	App        App       `json:"app,omitzero"`
	Device     Device    `json:"device,omitzero"`
	User       User      `json:"user,omitzero"`
	// Payload is any value that encodes to a JSON object: a struct, a map, or a
	// json.RawMessage holding an object.
	Payload any `json:"payload,omitempty"`
}

// App names the sending application.
type App struct {
	ID      string `json:"id,omitempty"`
	Version string `json:"version,omitempty"`
}

// Device names the sending device.
type Device struct {
	ID string `json:"id,omitempty"`
}

// User names the user the event is about.
type User struct {
	ID string `json:"id,omitempty"`
}

// uuidPool amortizes the random source over many IDs: one read of the OS's random
// source per 256 IDs instead of one per event matters at the rates the load generator runs.
var uuidPool = struct {
	sync.Mutex
	buf []byte
}{}

// NewEventID returns a random (version 4) UUID in its canonical text form.
func NewEventID() string {
	var b [16]byte
	uuidPool.Lock()
	if len(uuidPool.buf) < 16 {
		uuidPool.buf = make([]byte, 16*256)
		rand.Read(uuidPool.buf) // never fails (crypto/rand, Go 1.24+)
	}
	copy(b[:], uuidPool.buf)
	uuidPool.buf = uuidPool.buf[16:]
	uuidPool.Unlock()
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}
