package client

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/streamhub/streamhub/internal/jsonstr"
)

var errPayloadNotJSON = errors.New("payload is a json.RawMessage that is not valid JSON")

// appendEvent writes ev's JSON without reflection: the envelope's fields are few and
// fixed, and encoding/json spends more on finding them (and on re-compacting a
// json.RawMessage payload) than on writing them. Field names and omissions match the
// struct tags of Event.
func appendEvent(dst []byte, ev *Event) ([]byte, error) {
	dst = append(dst, `{"event_id":`...)
	dst = jsonstr.Append(dst, ev.EventID)
	dst = append(dst, `,"event_name":`...)
	dst = jsonstr.Append(dst, ev.EventName)
	dst = append(dst, `,"occurred_at":`...)
	var err error
	if dst, err = appendTime(dst, ev.OccurredAt); err != nil {
		return nil, err
	}
	if ev.Source != "" {
		dst = append(dst, `,"source":`...)
		dst = jsonstr.Append(dst, ev.Source)
	}
	if ev.App != (App{}) {
		dst = append(dst, `,"app":{`...)
		sep := false
		if ev.App.ID != "" {
			dst = append(dst, `"id":`...)
			dst = jsonstr.Append(dst, ev.App.ID)
			sep = true
		}
		if ev.App.Version != "" {
			if sep {
				dst = append(dst, ',')
			}
			dst = append(dst, `"version":`...)
			dst = jsonstr.Append(dst, ev.App.Version)
		}
		dst = append(dst, '}')
	}
	if ev.Device.ID != "" {
		dst = append(dst, `,"device":{"id":`...)
		dst = jsonstr.Append(dst, ev.Device.ID)
		dst = append(dst, '}')
	}
	if ev.User.ID != "" {
		dst = append(dst, `,"user":{"id":`...)
		dst = jsonstr.Append(dst, ev.User.ID)
		dst = append(dst, '}')
	}
	switch p := ev.Payload.(type) {
	case nil:
	case json.RawMessage:
		if len(p) > 0 {
			if !json.Valid(p) {
				return nil, errPayloadNotJSON
			}
			dst = append(dst, `,"payload":`...)
			dst = append(dst, p...)
		}
	default:
		b, err := json.Marshal(p)
		if err != nil {
			return nil, err
		}
		if string(b) != "null" {
			dst = append(dst, `,"payload":`...)
			dst = append(dst, b...)
		}
	}
	return append(dst, '}'), nil
}

func appendTime(dst []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y >= 10000 {
		return nil, errors.New("occurred_at: year outside [0,9999]")
	}
	dst = append(dst, '"')
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"'), nil
}

const hexDigits = "0123456789abcdef"

// eventSizeHint is a capacity that usually holds the whole event, so appendEvent
// allocates once.
func eventSizeHint(ev *Event) int {
	n := 160 + len(ev.EventID) + len(ev.EventName) + len(ev.Source) + len(ev.App.ID) + len(ev.App.Version) + len(ev.Device.ID) + len(ev.User.ID)
	if p, ok := ev.Payload.(json.RawMessage); ok {
		n += len(p)
	} else if ev.Payload != nil {
		n += 256
	}
	return n
}
