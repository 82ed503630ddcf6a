package redshift

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/streamhub/streamhub/emitters/warehouse"
)

// Limits of Redshift that make a row unloadable; such rows are rejected
// (ReasonUnsupported) rather than failing every retry of the flush.
const (
	// MaxVarcharBytes is the size of VARCHAR(65535), the type of text columns.
	MaxVarcharBytes = 65535
	// MaxJSONRecordBytes is the largest JSON record COPY … FORMAT JSON reads (4 MB).
	MaxJSONRecordBytes = 4 << 20
)

// checkRow reports a value Redshift cannot load: text longer than VARCHAR(65535), and,
// as on PostgreSQL (warehouse.CheckPostgres), NUL bytes in text or \u0000 in JSON.
func checkRow(row []any) error {
	if err := warehouse.CheckPostgres(row); err != nil {
		return err
	}
	for i, v := range row {
		if s, ok := v.(string); ok && len(s) > MaxVarcharBytes {
			return fmt.Errorf("value %d is %d bytes, more than VARCHAR(%d) holds", i, len(s), MaxVarcharBytes)
		}
	}
	return nil
}

// appendJSONLine appends one stage row as a JSON object (keys: the stage column names,
// which COPY … FORMAT JSON 'auto' matches to the stage table's columns) and a newline.
// Strings are JSON strings, numbers and booleans JSON scalars, times ISO 8601 in UTC with
// microseconds (TIMEFORMAT 'auto' reads them), JSON ([]byte) is embedded as it is, so it
// loads into the SUPER column as a document, and nil is null.
func appendJSONLine(b []byte, names []string, vals []any) ([]byte, error) {
	b = append(b, '{')
	for i, name := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, name)
		b = append(b, ':')
		switch v := vals[i].(type) {
		case nil:
			b = append(b, "null"...)
		case string:
			b = appendJSONString(b, v)
		case int64:
			b = strconv.AppendInt(b, v, 10)
		case int32:
			b = strconv.AppendInt(b, int64(v), 10)
		case int:
			b = strconv.AppendInt(b, int64(v), 10)
		case float64:
			b = strconv.AppendFloat(b, v, 'g', -1, 64)
		case bool:
			b = strconv.AppendBool(b, v)
		case time.Time:
			b = append(b, '"')
			b = v.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z")
			b = append(b, '"')
		case []byte:
			if !json.Valid(v) {
				return nil, fmt.Errorf("column %s: invalid JSON", name)
			}
			var c bytes.Buffer
			if err := json.Compact(&c, v); err != nil {
				return nil, fmt.Errorf("column %s: %w", name, err)
			}
			b = append(b, c.Bytes()...)
		default:
			return nil, fmt.Errorf("column %s: unsupported value type %T", name, v)
		}
	}
	return append(b, '}', '\n'), nil
}

func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}

// gzipBytes compresses b.
func gzipBytes(b []byte) ([]byte, error) {
	var out bytes.Buffer
	zw, err := gzip.NewWriterLevel(&out, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// stageKey is <prefix>/_stage/<sink>/<table>/<topic>+<partition>+<first offset, 20
// digits>.<ext>: a redone flush overwrites the same objects.
func stageKey(prefix, sink, table, topic string, partition int32, first int64, ext string) string {
	var b strings.Builder
	if prefix != "" {
		b.WriteString(strings.TrimSuffix(prefix, "/"))
		b.WriteByte('/')
	}
	fmt.Fprintf(&b, "_stage/%s/%s/%s+%d+%020d.%s", sink, table, topic, partition, first, ext)
	return b.String()
}

// manifest is Redshift's COPY manifest of one object: mandatory, with its content
// length.
func manifest(bucket, key string, size int) []byte {
	type meta struct {
		ContentLength int `json:"content_length"`
	}
	type entry struct {
		URL       string `json:"url"`
		Mandatory bool   `json:"mandatory"`
		Meta      meta   `json:"meta"`
	}
	b, _ := json.Marshal(struct {
		Entries []entry `json:"entries"`
	}{[]entry{{URL: "s3://" + bucket + "/" + key, Mandatory: true, Meta: meta{size}}}})
	return append(b, '\n')
}

// literal quotes s as an SQL string literal. Redshift reads a backslash in a literal as
// an escape and PostgreSQL does not, so a value with one (or a NUL) is refused rather
// than written in a form the two read differently.
func literal(s string) (string, error) {
	if strings.ContainsAny(s, "\\\x00") {
		return "", fmt.Errorf("redshift: %q holds a backslash or NUL, which no literal of both Redshift and PostgreSQL spells alike", s)
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'", nil
}
