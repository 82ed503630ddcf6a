package collector

import (
	"bytes"
	"encoding/json"

	"github.com/streamhub/streamhub/internal/jsonstr"
)

// appendEnriched appends the Kafka value of an event: the same JSON document as
// json.Marshal(Enriched{…}) (same fields, order and omissions) without reflection and
// without HTML escaping, which no consumer of these records needs. It is a hot path: one
// call per accepted event.
func appendEnriched(b []byte, env *Envelope, receivedAt string, client *Client) ([]byte, error) {
	b = append(b, `{"event_id":`...)
	b = jsonstr.Append(b, env.EventID)
	b = append(b, `,"event_name":`...)
	b = jsonstr.Append(b, env.EventName)
	b = append(b, `,"occurred_at":`...)
	b = jsonstr.Append(b, env.OccurredAt)
	b = append(b, `,"source":`...)
	b = jsonstr.Append(b, env.Source)
	if a := env.App; a != nil {
		b = append(b, `,"app":{`...)
		b = appendFields(b, "id", a.ID, "version", a.Version)
		b = append(b, '}')
	}
	if d := env.Device; d != nil {
		b = append(b, `,"device":{`...)
		b = appendFields(b, "id", d.ID)
		b = append(b, '}')
	}
	if u := env.User; u != nil {
		b = append(b, `,"user":{`...)
		b = appendFields(b, "id", u.ID)
		b = append(b, '}')
	}
	if len(env.Payload) > 0 {
		b = append(b, `,"payload":`...)
		buf := bytes.NewBuffer(b)
		if err := json.Compact(buf, env.Payload); err != nil {
			return nil, err
		}
		b = buf.Bytes()
	}
	b = append(b, `,"received_at":`...)
	b = jsonstr.Append(b, receivedAt)
	if client != nil {
		b = append(b, `,"client":{`...)
		b = appendFields(b, "ip", client.IP, "user_agent", client.UserAgent)
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

// appendFields appends name/value pairs, leaving out empty values (omitempty).
func appendFields(b []byte, kv ...string) []byte {
	first := true
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, kv[i]...)
		b = append(b, `":`...)
		b = jsonstr.Append(b, kv[i+1])
	}
	return b
}

const hex = "0123456789abcdef"
