package collector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"
	"unicode"
)

// Body formats a request may use.
const (
	formatJSON   = "json"   // an array, one object, or objects one per line (detected)
	formatNDJSON = "ndjson" // declared: one event per line, a bad line is one bad event
)

// errUnsupportedType is a Content-Type the collector does not read (415).
var errUnsupportedType = errors.New("unsupported content type")

// bodyFormat maps a Content-Type to a format. No Content-Type at all is read as JSON,
// because curl and many loggers send none or text/plain.
func bodyFormat(contentType string) (string, error) {
	if strings.TrimSpace(contentType) == "" {
		return formatJSON, nil
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", fmt.Errorf("%w: %q", errUnsupportedType, contentType)
	}
	switch mt {
	case "application/json", "text/json", "text/plain":
		return formatJSON, nil
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines",
		"application/jsonlines", "application/json-seq":
		return formatNDJSON, nil
	}
	return "", fmt.Errorf("%w: %q (send application/json or application/x-ndjson)", errUnsupportedType, mt)
}

// ParseBody splits a request body into its events, as sent. A JSON body is an array of
// events, one event object, or (detected) several objects each on its own line(s) with
// only whitespace between them. In an NDJSON body each non-empty line is one event, and a
// line that is not JSON is returned as it is: the caller rejects that one event. An error
// means the body as a whole cannot be read (400); no event of it is accepted.
//
// The elements are sub-slices of body: callers must not change body afterwards.
func ParseBody(body []byte, format string) ([]json.RawMessage, error) {
	if format == formatNDJSON {
		return splitLines(body), nil
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, errors.New("the body is empty: send a JSON array of events, one event object or NDJSON")
	}
	switch trimmed[0] {
	case '[':
		var events []json.RawMessage
		if err := json.Unmarshal(trimmed, &events); err != nil {
			return nil, fmt.Errorf("the body is not a JSON array of events: %s", jsonError(err))
		}
		return events, nil
	case '{':
		if json.Valid(trimmed) {
			return []json.RawMessage{json.RawMessage(trimmed)}, nil
		}
		// Several objects one after the other: read them as a stream, so an object may
		// span lines; any syntax error leaves the body unreadable as a whole.
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		var events []json.RawMessage
		for dec.More() {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, fmt.Errorf("the body is neither one JSON object nor newline-delimited objects: %s", jsonError(err))
			}
			if len(raw) == 0 || raw[0] != '{' {
				return nil, errors.New("newline-delimited events must each be a JSON object")
			}
			events = append(events, raw)
		}
		// The decoder stops at a value it cannot start; make sure nothing is left.
		if rest := bytes.TrimSpace(trimmed[dec.InputOffset():]); len(rest) > 0 {
			return nil, errors.New("the body has trailing data after its events")
		}
		return events, nil
	}
	return nil, fmt.Errorf("the body must start with [ or {, got %q", firstRune(trimmed))
}

// splitLines returns the non-empty lines of b (LF or CRLF), trimmed.
func splitLines(b []byte) []json.RawMessage {
	var out []json.RawMessage
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		// RFC 7464 (json-seq) starts records with RS; treat it as whitespace.
		line = bytes.TrimFunc(line, func(r rune) bool { return r == 0x1e || unicode.IsSpace(r) })
		if len(line) > 0 {
			out = append(out, json.RawMessage(line))
		}
	}
	return out
}

func firstRune(b []byte) string {
	s := string(b)
	for _, r := range s {
		return string(r)
	}
	return ""
}

// jsonError words a decoding error without Go type names.
func jsonError(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s (at byte %d)", se.Error(), se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("expected %s, got %s (at byte %d)", jsonKind(te.Type.Kind().String()), te.Value, te.Offset)
	}
	return err.Error()
}

func jsonKind(k string) string {
	switch k {
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	case "string":
		return "a string"
	}
	return k
}
