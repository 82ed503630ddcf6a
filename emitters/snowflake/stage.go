package snowflake

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// MaxValueBytes is the largest VARCHAR or VARIANT value Snowflake stores (16 MB); a stage
// row holding a bigger value is rejected (ReasonUnsupported) rather than failing every
// retry of the flush.
const MaxValueBytes = 16 << 20

// checkRow reports a value Snowflake cannot load.
func checkRow(row []any) error {
	for i, v := range row {
		switch v := v.(type) {
		case string:
			if len(v) > MaxValueBytes {
				return fmt.Errorf("value %d is %d bytes, more than Snowflake's %d", i, len(v), MaxValueBytes)
			}
		case []byte:
			if len(v) > MaxValueBytes {
				return fmt.Errorf("JSON value %d is %d bytes, more than a VARIANT's %d", i, len(v), MaxValueBytes)
			}
		}
	}
	return nil
}

// appendJSONLine appends one stage row as a JSON object and a newline. Keys are the stage
// column names, matched to the stage table's columns by COPY … MATCH_BY_COLUMN_NAME. A nil
// value is left out, so the column is SQL NULL (a JSON null would load into a VARIANT
// column as a JSON null, not NULL). Strings are JSON strings (invalid UTF-8 becomes
// U+FFFD), numbers and booleans JSON scalars, times ISO 8601 in UTC with microseconds,
// and JSON ([]byte) is embedded as it is, so it loads into the VARIANT column as a
// document.
func appendJSONLine(b []byte, names []string, vals []any) ([]byte, error) {
	b = append(b, '{')
	first := true
	for i, name := range names {
		if vals[i] == nil {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, name)
		b = append(b, ':')
		switch v := vals[i].(type) {
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
			var c bytes.Buffer
			if err := json.Compact(&c, v); err != nil {
				return nil, fmt.Errorf("column %s: invalid JSON: %w", name, err)
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
	zw := gzip.NewWriter(&out)
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
