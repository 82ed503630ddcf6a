package collector

import (
	"bytes"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// EventRecord is the Kafka record of a valid event: key Event.Key, value the enriched
// envelope (Enriched), headers naming the event, its ID, source and arrival.
func EventRecord(ev *Event, receivedAt time.Time, client *Client) (*kgo.Record, error) {
	recv := receivedAt.UTC().Format(time.RFC3339Nano)
	value, err := appendEnriched(make([]byte, 0, 256+len(ev.Payload)), &ev.Envelope, recv, client)
	if err != nil {
		return nil, err
	}
	return &kgo.Record{
		Topic: ev.Topic,
		Key:   []byte(ev.Key()),
		Value: value,
		Headers: []kgo.RecordHeader{
			{Key: HeaderEventName, Value: []byte(ev.EventName)},
			{Key: HeaderEventID, Value: []byte(ev.EventID)},
			{Key: HeaderSource, Value: []byte(ev.Source)},
			{Key: HeaderReceivedAt, Value: []byte(recv)},
		},
	}, nil
}

// DLQInfo is what a DLQ record says about where a rejected event came from.
type DLQInfo struct {
	// Path is "http" (the collector) or "kafka" (the events processor).
	Path string
	// KeySource is the source of the API key that sent it (HTTP only).
	KeySource string
	// Index is the event's position in its request; < 0 for a whole body.
	Index      int
	ReceivedAt time.Time
	Client     *Client
	// Extra headers (the events processor: the input record's topic, partition, offset).
	Extra []kgo.RecordHeader
}

// DLQRecord keeps a rejected event (or a whole body) exactly as it was sent, keyed by
// its event ID when one could be read, with the reason in HeaderDLQReason and the
// message in HeaderDLQError.
func DLQRecord(topic string, raw []byte, rej *Rejection, info DLQInfo) *kgo.Record {
	h := []kgo.RecordHeader{
		{Key: HeaderDLQReason, Value: []byte(rej.Reason)},
		{Key: HeaderDLQError, Value: []byte(rej.Message)},
		{Key: HeaderPath, Value: []byte(info.Path)},
		{Key: HeaderReceivedAt, Value: []byte(info.ReceivedAt.UTC().Format(time.RFC3339Nano))},
	}
	if info.KeySource != "" {
		h = append(h, kgo.RecordHeader{Key: HeaderDLQKeySource, Value: []byte(info.KeySource)})
	}
	if info.Index >= 0 {
		h = append(h, kgo.RecordHeader{Key: HeaderDLQIndex, Value: []byte(strconv.Itoa(info.Index))})
	}
	if rej.EventName != "" {
		h = append(h, kgo.RecordHeader{Key: HeaderEventName, Value: []byte(rej.EventName)})
	}
	if rej.EventID != "" {
		h = append(h, kgo.RecordHeader{Key: HeaderEventID, Value: []byte(rej.EventID)})
	}
	if rej.Source != "" {
		h = append(h, kgo.RecordHeader{Key: HeaderSource, Value: []byte(rej.Source)})
	}
	if c := info.Client; c != nil {
		if c.IP != "" {
			h = append(h, kgo.RecordHeader{Key: HeaderClientIP, Value: []byte(c.IP)})
		}
		if c.UserAgent != "" {
			h = append(h, kgo.RecordHeader{Key: HeaderUserAgent, Value: []byte(c.UserAgent)})
		}
	}
	h = append(h, info.Extra...)
	var key []byte
	if rej.EventID != "" {
		key = []byte(rej.EventID)
	}
	return &kgo.Record{Topic: topic, Key: key, Value: bytes.Clone(raw), Headers: h}
}
