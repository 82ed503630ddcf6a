package ddbtest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/streamhub/streamhub/internal/jsonstr"
	"github.com/streamhub/streamhub/state"
)

// Limits of the Streams API.
const (
	maxGetRecords     = 1000
	maxRecordBytes    = 1 << 20
	maxDescribeShards = 100
	maxListStreams    = 100
)

// keySchema is the KeySchema of a table or stream.
type keyElement struct {
	AttributeName string
	KeyType       string
}

func (t *table) keySchema() []keyElement {
	ks := []keyElement{{t.spec.HashKey, "HASH"}}
	if t.spec.RangeKey != "" {
		ks = append(ks, keyElement{t.spec.RangeKey, "RANGE"})
	}
	return ks
}

func streamNotFound(arn string) *apiError {
	return notFound("Requested resource not found: Stream: %s not found", arn)
}

// stream finds a stream by ARN. Called with s.mu held.
func (s *Server) stream(arn string) (*table, error) {
	t, ok := s.streams[arn]
	if !ok {
		return nil, streamNotFound(arn)
	}
	return t, nil
}

func checkLimit(limit *int, maxN int) (int, error) {
	if limit == nil {
		return maxN, nil
	}
	if *limit < 1 || *limit > maxN {
		return 0, validation("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and %d", *limit, maxN)
	}
	return *limit, nil
}

func required(name, v string) error {
	if v == "" {
		return validation("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", name)
	}
	return nil
}

func (s *Server) listStreams(body []byte) ([]byte, error) {
	var in struct {
		TableName               string
		Limit                   *int
		ExclusiveStartStreamArn string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	limit, err := checkLimit(in.Limit, maxListStreams)
	if err != nil {
		return nil, err
	}
	type streamJSON struct {
		StreamArn, TableName, StreamLabel string
	}
	var out struct {
		Streams                []streamJSON `json:"Streams"`
		LastEvaluatedStreamArn string       `json:",omitempty"`
	}
	out.Streams = []streamJSON{}
	s.mu.Lock()
	defer s.mu.Unlock()
	if in.TableName != "" {
		if _, ok := s.tables[in.TableName]; !ok {
			return nil, notFound("Requested resource not found: Table: %s not found", in.TableName)
		}
	}
	started := in.ExclusiveStartStreamArn == ""
	if !started {
		if _, ok := s.streams[in.ExclusiveStartStreamArn]; !ok {
			return nil, validation("ExclusiveStartStreamArn %s names no stream", in.ExclusiveStartStreamArn)
		}
	}
	for _, t := range s.order {
		if !started {
			started = t.streamARN == in.ExclusiveStartStreamArn
			continue
		}
		if in.TableName != "" && t.spec.Name != in.TableName {
			continue
		}
		if len(out.Streams) == limit {
			out.LastEvaluatedStreamArn = out.Streams[limit-1].StreamArn
			break
		}
		out.Streams = append(out.Streams, streamJSON{t.streamARN, t.spec.Name, t.label})
	}
	return encode(&out)
}

type seqRangeJSON struct {
	StartingSequenceNumber string `json:",omitempty"`
	EndingSequenceNumber   string `json:",omitempty"`
}

type shardJSON struct {
	ShardId             string
	ParentShardId       string `json:",omitempty"`
	SequenceNumberRange seqRangeJSON
}

func (s *Server) describeStream(body []byte) ([]byte, error) {
	var in struct {
		StreamArn             string
		Limit                 *int
		ExclusiveStartShardId string
		ShardFilter           *struct {
			Type    string
			ShardId string
		}
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := required("streamArn", in.StreamArn); err != nil {
		return nil, err
	}
	limit, err := checkLimit(in.Limit, maxDescribeShards)
	if err != nil {
		return nil, err
	}
	if f := in.ShardFilter; f != nil {
		if f.Type != "CHILD_SHARDS" {
			return nil, validation("1 validation error detected: Value '%s' at 'shardFilter.type' failed to satisfy constraint: Member must satisfy enum value set: [CHILD_SHARDS]", f.Type)
		}
		if err := required("shardFilter.shardId", f.ShardId); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.stream(in.StreamArn)
	if err != nil {
		return nil, err
	}
	s.retain(t)
	type descJSON struct {
		StreamArn               string
		StreamLabel             string
		StreamStatus            string
		StreamViewType          string
		CreationRequestDateTime json.Number
		TableName               string
		KeySchema               []keyElement
		Shards                  []shardJSON
		LastEvaluatedShardId    string `json:",omitempty"`
	}
	d := descJSON{
		StreamArn: t.streamARN, StreamLabel: t.label, StreamStatus: "ENABLED", StreamViewType: t.spec.ViewType,
		CreationRequestDateTime: state.EpochSeconds(t.created), TableName: t.spec.Name, KeySchema: t.keySchema(),
		Shards: []shardJSON{},
	}
	for _, sh := range t.shards {
		// Shard IDs grow with creation order, so a shard ID given back (even one trimmed
		// away since) is a position in the list.
		if in.ExclusiveStartShardId != "" && sh.id <= in.ExclusiveStartShardId {
			continue
		}
		if in.ShardFilter != nil && sh.parent != in.ShardFilter.ShardId {
			continue
		}
		if len(d.Shards) == limit {
			d.LastEvaluatedShardId = d.Shards[limit-1].ShardId
			break
		}
		j := shardJSON{ShardId: sh.id, ParentShardId: sh.parent,
			SequenceNumberRange: seqRangeJSON{StartingSequenceNumber: seqString(sh.startN)}}
		if sh.closed {
			j.SequenceNumberRange.EndingSequenceNumber = seqString(sh.endN)
		}
		d.Shards = append(d.Shards, j)
	}
	return encode(&struct{ StreamDescription descJSON }{d})
}

// iterator is a decoded shard iterator: a position in a shard (the records after
// counter pos) and when it was handed out.
type iterator struct {
	streamARN, shardID string
	pos                uint64
	id                 uint64 // issue number, for ExpireIterators
	issued             time.Time
}

const iteratorVersion = 1

// newIterator hands out an iterator. Called with s.mu held. The shape follows AWS:
// "<stream ARN>|1|<opaque>".
func (s *Server) newIterator(t *table, sh *shard, pos uint64) string {
	s.iterN++
	b := make([]byte, 0, 64)
	b = append(b, iteratorVersion)
	b = binary.BigEndian.AppendUint64(b, s.iterN)
	b = binary.BigEndian.AppendUint64(b, pos)
	b = binary.BigEndian.AppendUint64(b, uint64(s.now().UnixNano()))
	b = append(b, sh.id...)
	sum := sha256.Sum256(append([]byte(t.streamARN), b...))
	b = append(b, sum[:4]...)
	return t.streamARN + "|1|" + base64.RawURLEncoding.EncodeToString(b)
}

func invalidIterator() *apiError {
	return validation("Invalid ShardIterator")
}

func parseIterator(it string) (iterator, error) {
	arn, rest, ok := strings.Cut(it, "|1|")
	if !ok || len(it) > 2048 {
		return iterator{}, invalidIterator()
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(b) < 1+24+4 || b[0] != iteratorVersion {
		return iterator{}, invalidIterator()
	}
	body, sum := b[:len(b)-4], b[len(b)-4:]
	want := sha256.Sum256(append([]byte(arn), body...))
	if string(want[:4]) != string(sum) {
		return iterator{}, invalidIterator()
	}
	return iterator{
		streamARN: arn,
		id:        binary.BigEndian.Uint64(body[1:]),
		pos:       binary.BigEndian.Uint64(body[9:]),
		issued:    time.Unix(0, int64(binary.BigEndian.Uint64(body[17:]))),
		shardID:   string(body[25:]),
	}, nil
}

func trimmedErr() *apiError {
	return newErr(http.StatusBadRequest, "TrimmedDataAccessException",
		"The operation attempted to read past the oldest stream record in a shard.")
}

func (s *Server) getShardIterator(body []byte) ([]byte, error) {
	var in struct {
		StreamArn         string
		ShardId           string
		ShardIteratorType string
		SequenceNumber    *string
		Timestamp         *json.Number
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	for _, f := range [...]struct{ name, v string }{{"streamArn", in.StreamArn}, {"shardId", in.ShardId}, {"shardIteratorType", in.ShardIteratorType}} {
		if err := required(f.name, f.v); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.stream(in.StreamArn)
	if err != nil {
		return nil, err
	}
	s.retain(t)
	sh, ok := t.byID[in.ShardId]
	if !ok || !sh.listed {
		return nil, notFound("Requested resource not found: Shard does not exist")
	}
	upper := s.seq // the newest sequence number a position may name
	if sh.closed {
		upper = sh.endN
	}
	horizon := max(sh.startN-1, sh.trimmedN)
	var pos uint64
	switch typ := in.ShardIteratorType; typ {
	case "TRIM_HORIZON":
		pos = horizon
	case "LATEST":
		pos = upper
	case "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER":
		if in.SequenceNumber == nil || *in.SequenceNumber == "" {
			return nil, validation("SequenceNumber is required for ShardIteratorType %s", typ)
		}
		n, cls, ok := parseSeq(*in.SequenceNumber)
		if !ok {
			return nil, validation("1 validation error detected: Value '%s' at 'sequenceNumber' failed to satisfy constraint: Member must satisfy regular expression pattern: \\d+", *in.SequenceNumber)
		}
		if cls != 0 || n < sh.startN || n > upper {
			return nil, validation("Invalid SequenceNumber for ShardIteratorType %s: %s is not in shard %s", typ, *in.SequenceNumber, sh.id)
		}
		if typ == "AT_SEQUENCE_NUMBER" {
			if n <= sh.trimmedN {
				s.stats.TrimmedErrors++
				return nil, trimmedErr()
			}
			pos = n - 1
		} else {
			if n < sh.trimmedN {
				s.stats.TrimmedErrors++
				return nil, trimmedErr()
			}
			pos = n
		}
	case "AT_TIMESTAMP":
		if in.Timestamp == nil {
			return nil, validation("Timestamp is required for ShardIteratorType AT_TIMESTAMP")
		}
		f, err := in.Timestamp.Float64()
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, validation("Invalid Timestamp %s", *in.Timestamp)
		}
		ts := time.UnixMilli(int64(math.Round(f * 1000)))
		if ts.After(s.now()) {
			return nil, validation("The timestamp %s is in the future", *in.Timestamp)
		}
		i := sort.Search(len(sh.recs), func(i int) bool { return !sh.recs[i].created.Before(ts) })
		pos = upper
		if i < len(sh.recs) {
			pos = sh.recs[i].n - 1
		}
		pos = max(pos, horizon)
	default:
		return nil, validation("1 validation error detected: Value '%s' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: [TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, AT_TIMESTAMP]", typ)
	}
	it := s.newIterator(t, sh, pos)
	return append(jsonstr.Append([]byte(`{"ShardIterator":`), it), '}'), nil
}

func (s *Server) getRecords(body []byte) ([]byte, error) {
	var in struct {
		ShardIterator string
		Limit         *int
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := required("shardIterator", in.ShardIterator); err != nil {
		return nil, err
	}
	limit, err := checkLimit(in.Limit, maxGetRecords)
	if err != nil {
		return nil, err
	}
	it, err := parseIterator(in.ShardIterator)
	if err != nil {
		return nil, err
	}
	recs, next, err := s.read(it, limit)
	if err != nil {
		return nil, err
	}
	size := 64 + len(next)
	for _, r := range recs {
		size += len(r.wire) + 1
	}
	b := make([]byte, 0, size)
	b = append(b, `{"Records":[`...)
	for i, r := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, r.wire...)
	}
	b = append(b, ']')
	if next != "" {
		b = append(b, `,"NextShardIterator":`...)
		b = jsonstr.Append(b, next)
	}
	return append(b, '}'), nil
}

// read returns the records after the iterator's position and the next iterator ("" at
// the end of a closed shard).
func (s *Server) read(it iterator, limit int) ([]*record, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if it.id < s.expiredBelow || now.Sub(it.issued) > s.cfg.iteratorTTL {
		s.stats.ExpiredIterators++
		return nil, "", newErr(http.StatusBadRequest, "ExpiredIteratorException",
			"Iterator expired. The iterator was created at time %s while right now it is %s which is further in the future than the tolerated delay of %d milliseconds.",
			it.issued.UTC().Format(time.UnixDate), now.UTC().Format(time.UnixDate), s.cfg.iteratorTTL.Milliseconds())
	}
	t, err := s.stream(it.streamARN)
	if err != nil {
		return nil, "", err
	}
	s.retain(t)
	sh, ok := t.byID[it.shardID]
	if !ok {
		return nil, "", invalidIterator()
	}
	if it.pos < sh.trimmedN {
		s.stats.TrimmedErrors++
		return nil, "", trimmedErr()
	}
	i := sort.Search(len(sh.recs), func(i int) bool { return sh.recs[i].n > it.pos })
	j, bytes := i, 0
	for j < len(sh.recs) && j-i < limit {
		n := len(sh.recs[j].wire)
		if j > i && bytes+n > maxRecordBytes {
			break
		}
		bytes += n
		j++
	}
	recs := sh.recs[i:j:j]
	if sh.closed && j == len(sh.recs) {
		return recs, "", nil // the end of a closed shard: no NextShardIterator
	}
	pos := it.pos
	if j > i {
		pos = sh.recs[j-1].n
	}
	return recs, s.newIterator(t, sh, pos), nil
}
