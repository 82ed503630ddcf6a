package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/state"
)

const (
	defaultLimit = 100
	maxLimit     = 1000
)

// errStopping answers a lookup that arrives after Run has begun to stop the views.
var errStopping = errors.New("the view API is shutting down; retry on another instance")

// itemJSON is one item as the API answers it.
type itemJSON struct {
	Key       json.RawMessage `json:"key"`
	Item      json.RawMessage `json:"item"`
	Deleted   bool            `json:"deleted"`
	Version   versionJSON     `json:"version"`
	UpdatedAt string          `json:"updated_at,omitempty"`
	Source    sourceJSON      `json:"source"`
}

type versionJSON struct {
	Attribute      json.RawMessage `json:"attribute,omitempty"`
	SequenceNumber string          `json:"sequence_number"`
	Stream         string          `json:"stream,omitempty"`
	CreatedAt      string          `json:"approximate_creation_time,omitempty"`
	EventID        string          `json:"event_id,omitempty"`
}

type sourceJSON struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

func toItemJSON(key string, v *state.Value) itemJSON {
	out := itemJSON{
		Key:     json.RawMessage(key),
		Item:    json.RawMessage("null"),
		Deleted: v.Deleted,
		Version: versionJSON{
			SequenceNumber: v.Version.Seq,
			Stream:         v.Version.Stream,
			EventID:        v.EventID,
		},
		Source: sourceJSON{Topic: v.Source.Topic, Partition: v.Source.Partition, Offset: v.Source.Offset},
	}
	if !v.Deleted && len(v.Item) > 0 {
		out.Item = json.RawMessage(v.Item)
	}
	if v.Version.HasAttr {
		out.Version.Attribute = json.RawMessage(v.Version.Attr)
	}
	if v.Version.CreatedAt != 0 {
		out.Version.CreatedAt = time.UnixMilli(v.Version.CreatedAt).UTC().Format(time.RFC3339Nano)
	}
	if !v.UpdatedAt.IsZero() {
		out.UpdatedAt = v.UpdatedAt.UTC().Format(time.RFC3339Nano)
	}
	return out
}

// keyCandidates are the encoded keys a query string may mean. A query value is text, but a
// key attribute may be a number: "42" is tried as the string "42", then as the number 42.
// (A prefix scan with the whole key of a hash-only table matches exactly that item.)
func keyCandidates(values []string) []string {
	numeric := make([]bool, len(values))
	var out []string
	var walk func(i int)
	walk = func(i int) {
		if i == len(values) {
			if k, err := state.KeyFromStrings(values, numeric); err == nil {
				out = append(out, k)
			}
			return
		}
		numeric[i] = false
		walk(i + 1)
		numeric[i] = true // KeyFromStrings refuses what is not a number
		walk(i + 1)
		numeric[i] = false
	}
	walk(0)
	return out
}

func (s *Server) handleItem(w http.ResponseWriter, r *http.Request) {
	t, ok := s.table(w, r)
	if !ok {
		return
	}
	start := time.Now()
	q := r.URL.Query()
	values := make([]string, len(t.cfg.Keys))
	for i, attr := range t.cfg.Keys {
		if !q.Has(attr) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("missing query parameter %q: table %s has keys [%s]",
				attr, t.cfg.Name, strings.Join(t.cfg.Keys, ", ")))
			return
		}
		values[i] = q.Get(attr)
	}
	includeDeleted := q.Get("include_deleted") == "true"

	var found *state.Value
	var foundKey string
	var lag int64
	var lookupErr error
	if !s.withViews(func() {
		for _, key := range keyCandidates(values) {
			v, err := t.view.Get(key)
			if err != nil {
				lookupErr = fmt.Errorf("lookup %s in table %s: %w", key, t.cfg.Name, err)
				return
			}
			if v != nil {
				found, foundKey = v.(*state.Value), key
				return
			}
		}
	}) {
		lookupErr = errStopping
	}
	if lookupErr != nil {
		s.metrics.Lookups.WithLabelValues(t.cfg.Name, "item", "error").Inc()
		writeError(w, http.StatusServiceUnavailable, lookupErr.Error())
		return
	}
	if found != nil {
		lag = s.partitionLag(t, foundKey)
	} else {
		lag = t.fresh.lag(-1)
	}
	w.Header().Set(HeaderLag, strconv.FormatInt(lag, 10))
	s.metrics.Latency.WithLabelValues(t.cfg.Name, "item").Observe(time.Since(start).Seconds())
	if found == nil || (found.Deleted && !includeDeleted) {
		s.metrics.Lookups.WithLabelValues(t.cfg.Name, "item", "not_found").Inc()
		msg := fmt.Sprintf("no item with %s in table %s", describeKey(t.cfg.Keys, values), t.cfg.Name)
		if found != nil {
			msg += " (deleted; add include_deleted=true to see the tombstone)"
		}
		writeError(w, http.StatusNotFound, msg)
		return
	}
	s.metrics.Lookups.WithLabelValues(t.cfg.Name, "item", "found").Inc()
	writeJSON(w, http.StatusOK, toItemJSON(foundKey, found))
}

func (s *Server) partitionLag(t *tableView, key string) int64 {
	p := kafka.Partition([]byte(key), int32(t.cfg.Partitions))
	return t.fresh.lag(p)
}

func describeKey(attrs, values []string) string {
	parts := make([]string, len(attrs))
	for i := range attrs {
		parts[i] = fmt.Sprintf("%s=%q", attrs[i], values[i])
	}
	return strings.Join(parts, ", ")
}

type itemsJSON struct {
	Items      []itemJSON `json:"items"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

type scanned struct {
	key string
	val *state.Value
}

// handleItems lists the items of one hash key in range-key order. Items of one hash key are
// spread over every partition (the message key is the whole item key), so each partition
// is range-scanned for the hash key's prefix and the results merged by range key.
func (s *Server) handleItems(w http.ResponseWriter, r *http.Request) {
	t, ok := s.table(w, r)
	if !ok {
		return
	}
	start := time.Now()
	q := r.URL.Query()
	hashAttr := t.cfg.Keys[0]
	if !q.Has(hashAttr) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("missing query parameter %q: the hash key of table %s", hashAttr, t.cfg.Name))
		return
	}
	limit := defaultLimit
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxLimit {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit: must be a whole number from 1 to %d, got %q", maxLimit, l))
			return
		}
		limit = n
	}
	var after string
	if c := q.Get("cursor"); c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("cursor: not a cursor from a previous page: %q", c))
			return
		}
		after = string(b)
	}
	includeDeleted := q.Get("include_deleted") == "true"

	hashValue := q.Get(hashAttr)
	var items []scanned
	prefixes := prefixCandidates(hashValue)
	if t.cfg.RangeKey() == "" {
		// Without a range key the hash key is the whole item key: at most one item.
		prefixes = keyCandidates([]string{hashValue})
	}
	var scanErr error
	if !s.withViews(func() {
		for _, prefix := range prefixes {
			got, err := s.scan(t, prefix, includeDeleted)
			if err != nil {
				scanErr = fmt.Errorf("scan table %s: %w", t.cfg.Name, err)
				return
			}
			items = append(items, got...)
		}
	}) {
		scanErr = errStopping
	}
	if scanErr != nil {
		s.metrics.Lookups.WithLabelValues(t.cfg.Name, "items", "error").Inc()
		writeError(w, http.StatusServiceUnavailable, scanErr.Error())
		return
	}
	slices.SortFunc(items, func(a, b scanned) int { return state.CompareKeys(a.key, b.key) })
	if after != "" {
		i, _ := slices.BinarySearchFunc(items, after, func(a scanned, k string) int { return state.CompareKeys(a.key, k) })
		for i < len(items) && state.CompareKeys(items[i].key, after) <= 0 {
			i++
		}
		items = items[i:]
	}
	out := itemsJSON{Items: []itemJSON{}}
	for i, it := range items {
		if i == limit {
			out.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(items[i-1].key))
			break
		}
		out.Items = append(out.Items, toItemJSON(it.key, it.val))
	}
	w.Header().Set(HeaderLag, strconv.FormatInt(t.fresh.lag(-1), 10))
	s.metrics.Latency.WithLabelValues(t.cfg.Name, "items").Observe(time.Since(start).Seconds())
	result := "found"
	if len(out.Items) == 0 {
		result = "not_found"
	}
	s.metrics.Lookups.WithLabelValues(t.cfg.Name, "items", result).Inc()
	writeJSON(w, http.StatusOK, out)
}

func prefixCandidates(hashValue string) []string {
	out := []string{state.KeyPrefixString(hashValue)}
	if p, err := state.KeyPrefixNumber(hashValue); err == nil {
		out = append(out, p)
	}
	return out
}

func (s *Server) scan(t *tableView, prefix string, includeDeleted bool) ([]scanned, error) {
	it, err := t.view.IteratorWithRange(prefix, prefixLimit(prefix))
	if err != nil {
		return nil, err
	}
	defer it.Release()
	var out []scanned
	for it.Next() {
		v, err := it.Value()
		if err != nil {
			return nil, err
		}
		val, ok := v.(*state.Value)
		if !ok || (val.Deleted && !includeDeleted) {
			continue
		}
		out = append(out, scanned{key: it.Key(), val: val})
	}
	return out, it.Err()
}

// prefixLimit is the least string greater than every string with the prefix.
func prefixLimit(prefix string) string {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return ""
}
