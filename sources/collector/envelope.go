package collector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/streamhub/streamhub/topology"
)

// Reasons an event is rejected, in answers, DLQ headers and metrics.
const (
	ReasonInvalidJSON     = "invalid_json"     // the event is not JSON
	ReasonNotAnObject     = "not_an_object"    // JSON, but not an object
	ReasonInvalidEnvelope = "invalid_envelope" // a required field is missing or malformed, or an unknown one is present
	ReasonSchema          = "schema_violation" // the payload does not match its event's JSON Schema
	ReasonBadTopic        = "bad_topic"        // the routed topic is not a legal Kafka topic name
	ReasonForbidden       = "forbidden"        // the key may not send this event name or source (403)
	ReasonBadBody         = "bad_body"         // the body as a whole cannot be read (400)
)

// Envelope is the standard event envelope as clients send it.
type Envelope struct {
	EventID    string          `json:"event_id"`
	EventName  string          `json:"event_name"`
	OccurredAt string          `json:"occurred_at"`
	Source     string          `json:"source"`
	App        *App            `json:"app,omitempty"`
	Device     *Device         `json:"device,omitempty"`
	User       *User           `json:"user,omitempty"`
	Payload    json.RawMessage `json:"payload,omitempty"`
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

// Enriched is the Kafka record value: the envelope with what the collector knows.
type Enriched struct {
	Envelope
	ReceivedAt string  `json:"received_at"`
	Client     *Client `json:"client,omitempty"`
}

// Client is where an event came from, as the collector saw it.
type Client struct {
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
}

// Event is a valid event with its routing.
type Event struct {
	Envelope
	Topic string
}

// Key is the Kafka record key: the user, else the device, else the event ID, so that
// the events of one user (or one device before login) stay in order on one partition.
func (e *Event) Key() string {
	switch {
	case e.User != nil && e.User.ID != "":
		return e.User.ID
	case e.Device != nil && e.Device.ID != "":
		return e.Device.ID
	}
	return e.EventID
}

// Rejection says why one event was not accepted.
type Rejection struct {
	Reason  string
	Message string
	// EventID and EventName are what could be read of the event, for the answer and
	// the DLQ headers; either may be empty.
	EventID   string
	EventName string
	Source    string
}

func (r *Rejection) Error() string { return r.Reason + ": " + r.Message }

// Validator checks envelopes and payloads and routes events; safe for concurrent use.
type Validator struct {
	env     string
	col     *topology.Collector
	schemas map[string]*jsonschema.Schema
}

// NewValidator compiles the topology's event schemas.
func NewValidator(env string, col *topology.Collector) (*Validator, error) {
	v := &Validator{env: env, col: col, schemas: map[string]*jsonschema.Schema{}}
	for _, e := range col.Events {
		if e.Schema == "" {
			continue
		}
		s, err := topology.CompileSchema(e.Schema)
		if err != nil {
			return nil, fmt.Errorf("collector: event %q: %w", e.Name, err)
		}
		v.schemas[e.Name] = s
	}
	return v, nil
}

// Peek reads what it can of an event's name, source and ID without validating it, for
// authorization (a forbidden event is refused whatever else is wrong with it) and labels.
func Peek(raw []byte) (name, source, id string) {
	var p struct {
		EventID   any `json:"event_id"`
		EventName any `json:"event_name"`
		Source    any `json:"source"`
	}
	if json.Unmarshal(raw, &p) != nil {
		return "", "", ""
	}
	str := func(v any) string { s, _ := v.(string); return s }
	return str(p.EventName), str(p.Source), str(p.EventID)
}

// Validate checks one event as sent: the envelope, then its payload against its event
// name's schema, then its topic.
func (v *Validator) Validate(raw []byte) (*Event, *Rejection) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		if json.Valid(trimmed) {
			return nil, &Rejection{Reason: ReasonNotAnObject, Message: "an event must be a JSON object"}
		}
		return nil, &Rejection{Reason: ReasonInvalidJSON, Message: "the event is not valid JSON"}
	}
	// One pass reads and checks the syntax; an error says which it was.
	var env Envelope
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	err := dec.Decode(&env)
	if err == nil && len(bytes.TrimSpace(trimmed[dec.InputOffset():])) > 0 {
		return nil, &Rejection{Reason: ReasonInvalidJSON, Message: "the event is not valid JSON (data after its object)"}
	}
	if err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) || !json.Valid(trimmed) {
			return nil, &Rejection{Reason: ReasonInvalidJSON, Message: "the event is not valid JSON"}
		}
		name, source, id := Peek(trimmed)
		return nil, &Rejection{Reason: ReasonInvalidEnvelope, Message: envelopeError(err), EventID: id, EventName: name, Source: source}
	}
	rej := func(reason, format string, args ...any) *Rejection {
		return &Rejection{Reason: reason, Message: fmt.Sprintf(format, args...), EventID: env.EventID, EventName: env.EventName, Source: env.Source}
	}
	switch {
	case env.EventID == "":
		return nil, rej(ReasonInvalidEnvelope, "event_id is required (a UUID)")
	case !isUUID(env.EventID):
		return nil, rej(ReasonInvalidEnvelope, "event_id must be a UUID like 0b9e8f3c-5d2a-4c1e-9f6b-2a7d8e9c0b1a, got %q", clip(env.EventID))
	}
	if msg := nameProblem("event_name", env.EventName); msg != "" {
		return nil, rej(ReasonInvalidEnvelope, "%s", msg)
	}
	if msg := nameProblem("source", env.Source); msg != "" {
		return nil, rej(ReasonInvalidEnvelope, "%s", msg)
	}
	if env.OccurredAt == "" {
		return nil, rej(ReasonInvalidEnvelope, "occurred_at is required (RFC 3339, like 2026-11-25T12:00:00Z)")
	}
	if _, err := time.Parse(time.RFC3339Nano, env.OccurredAt); err != nil {
		return nil, rej(ReasonInvalidEnvelope, "occurred_at must be an RFC 3339 time like 2026-11-25T12:00:00.123Z, got %q", clip(env.OccurredAt))
	}
	for _, f := range []struct{ name, val string }{
		{"app.id", appID(env.App)}, {"app.version", appVersion(env.App)},
		{"device.id", deviceID(env.Device)}, {"user.id", userID(env.User)},
	} {
		if len(f.val) > maxIDLength {
			return nil, rej(ReasonInvalidEnvelope, "%s has at most %d bytes, got %d", f.name, maxIDLength, len(f.val))
		}
	}
	payload := bytes.TrimSpace(env.Payload)
	if len(payload) == 0 || string(payload) == "null" {
		env.Payload = nil
		payload = []byte("{}")
	} else if payload[0] != '{' {
		return nil, rej(ReasonInvalidEnvelope, "payload must be a JSON object")
	}
	if s := v.schemas[env.EventName]; s != nil {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
		if err != nil {
			return nil, rej(ReasonInvalidEnvelope, "payload: %v", err)
		}
		if err := s.Validate(doc); err != nil {
			return nil, rej(ReasonSchema, "payload of %s: %s", env.EventName, schemaMessage(err))
		}
	}
	ev := &Event{Envelope: env, Topic: v.col.EventTopic(v.env, env.EventName, env.Source)}
	if len(ev.Topic) > maxTopicLength {
		return nil, rej(ReasonBadTopic, "the topic %q is longer than Kafka's %d characters: shorten the source or event name, or route it", clip(ev.Topic), maxTopicLength)
	}
	return ev, nil
}

const (
	maxTopicLength = 249
	maxIDLength    = 256
)

func nameProblem(field, s string) string {
	switch {
	case s == "":
		return field + " is required"
	case len(s) > topology.MaxNameLength:
		return fmt.Sprintf("%s has at most %d bytes, got %d", field, topology.MaxNameLength, len(s))
	case !utf8.ValidString(s):
		return field + " must be UTF-8"
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return fmt.Sprintf("%s must not hold control characters, got %q", field, s)
		}
	}
	return ""
}

// isUUID accepts the canonical 8-4-4-4-12 hex form, any version, either case.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

func envelopeError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "the event"
		}
		return fmt.Sprintf("%s must be %s, got %s", field, jsonKind(te.Type.Kind().String()), te.Value)
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return "unknown field " + f + "; the envelope has event_id, event_name, occurred_at, source, app, device, user and payload (put anything else in payload)"
	}
	return strings.TrimPrefix(msg, "json: ")
}

// schemaMessage keeps the first lines of a validation error: enough to fix the event,
// short enough for an answer and a header.
func schemaMessage(err error) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err.Error()
	}
	lines := strings.Split(strings.TrimSpace(ve.Error()), "\n")
	// The first line names the schema file; the causes follow.
	if len(lines) > 1 {
		lines = lines[1:]
	}
	if len(lines) > 3 {
		lines = lines[:3]
	}
	for i := range lines {
		lines[i] = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(lines[i]), "-"))
	}
	return clipN(strings.Join(lines, "; "), 500)
}

func clip(s string) string { return clipN(s, 80) }

func clipN(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func appID(a *App) string {
	if a == nil {
		return ""
	}
	return a.ID
}

func appVersion(a *App) string {
	if a == nil {
		return ""
	}
	return a.Version
}

func deviceID(d *Device) string {
	if d == nil {
		return ""
	}
	return d.ID
}

func userID(u *User) string {
	if u == nil {
		return ""
	}
	return u.ID
}
