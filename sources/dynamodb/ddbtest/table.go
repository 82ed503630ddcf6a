package ddbtest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/streamhub/streamhub/state"
)

// Item is one DynamoDB item (or key): attribute name → value.
type Item = map[string]state.AttributeValue

// TableSpec describes a table to create and its stream.
type TableSpec struct {
	Name     string
	HashKey  string
	RangeKey string // optional
	// HashKeyType and RangeKeyType are S, N or B; empty means S.
	HashKeyType, RangeKeyType string
	// Shards is the number of open shards the stream starts with; 0 means 1.
	Shards int
	// ViewType is KEYS_ONLY, NEW_IMAGE, OLD_IMAGE or NEW_AND_OLD_IMAGES; empty means
	// NEW_AND_OLD_IMAGES.
	ViewType string
}

// Change is one stream record a write produced.
type Change struct {
	Table, ShardID, SequenceNumber string
	// EventName is INSERT, MODIFY or REMOVE.
	EventName string
	// Record is the record JSON in the shape AWS Lambda receives it (state.Record's
	// encoding, eventSourceARN = the stream ARN): the exact bytes the bridge writes to
	// the raw CDC topic for it. GetRecords serves the same record in the Streams API's
	// shape (no eventSourceARN; userIdentity members "PrincipalId" and "Type").
	Record []byte
}

// ShardInfo describes one shard of a table's stream as DescribeStream lists it.
type ShardInfo struct {
	ID, Parent string
	Open       bool
	// StartingSequenceNumber and, for a closed shard, EndingSequenceNumber.
	StartingSequenceNumber, EndingSequenceNumber string
	// Records is the number of records the shard still holds (not trimmed).
	Records int
}

// maxShards bounds TableSpec.Shards.
const maxShards = 1000

// table is one table and its stream. All fields are guarded by Server.mu.
type table struct {
	spec      TableSpec
	arn       string
	streamARN string
	label     string
	created   time.Time
	items     map[string]Item
	// shards lists the stream's shards in creation order (parents before children);
	// shards dropped by trimming leave the list but stay in byID, so iterators that
	// point into them still answer.
	shards    []*shard
	byID      map[string]*shard
	lastShard uint64 // the number part of the newest shard ID
}

// shard is one shard of a stream.
type shard struct {
	id, parent string
	lo, hi     uint64 // hash range, inclusive
	startN     uint64 // StartingSequenceNumber's counter
	closed     bool
	endN       uint64 // EndingSequenceNumber's counter, when closed
	closedAt   time.Time
	recs       []*record
	// trimmedN is the counter of the newest record trimmed from this shard (0: none).
	trimmedN uint64
	listed   bool
}

// record is one stream record, encoded once.
type record struct {
	n       uint64
	created time.Time
	wire    []byte
}

func (sh *shard) info() ShardInfo {
	in := ShardInfo{ID: sh.id, Parent: sh.parent, Open: !sh.closed,
		StartingSequenceNumber: seqString(sh.startN), Records: len(sh.recs)}
	if sh.closed {
		in.EndingSequenceNumber = seqString(sh.endN)
	}
	return in
}

// normalize fills the spec's defaults and checks it.
func (spec *TableSpec) normalize() error {
	if err := checkTableName(spec.Name); err != nil {
		return err
	}
	if spec.HashKey == "" {
		return errors.New("ddbtest: TableSpec.HashKey is required")
	}
	if spec.HashKeyType == "" {
		spec.HashKeyType = "S"
	}
	if !keyType(spec.HashKeyType) {
		return fmt.Errorf("ddbtest: hash key type %q: want S, N or B", spec.HashKeyType)
	}
	if spec.RangeKey != "" {
		if spec.RangeKey == spec.HashKey {
			return errors.New("ddbtest: RangeKey equals HashKey")
		}
		if spec.RangeKeyType == "" {
			spec.RangeKeyType = "S"
		}
		if !keyType(spec.RangeKeyType) {
			return fmt.Errorf("ddbtest: range key type %q: want S, N or B", spec.RangeKeyType)
		}
	} else if spec.RangeKeyType != "" {
		return errors.New("ddbtest: RangeKeyType without RangeKey")
	}
	if spec.Shards == 0 {
		spec.Shards = 1
	}
	if spec.Shards < 0 || spec.Shards > maxShards {
		return fmt.Errorf("ddbtest: Shards %d: want 1..%d", spec.Shards, maxShards)
	}
	switch spec.ViewType {
	case "":
		spec.ViewType = viewNewAndOld
	case viewKeysOnly, viewNewImage, viewOldImage, viewNewAndOld:
	default:
		return fmt.Errorf("ddbtest: ViewType %q: want KEYS_ONLY, NEW_IMAGE, OLD_IMAGE or NEW_AND_OLD_IMAGES", spec.ViewType)
	}
	return nil
}

func keyType(t string) bool { return t == "S" || t == "N" || t == "B" }

func checkTableName(name string) error {
	if len(name) < 3 || len(name) > 255 {
		return fmt.Errorf("ddbtest: table name %q: want 3 to 255 characters", name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return fmt.Errorf("ddbtest: table name %q: only a-z, A-Z, 0-9, '_', '-' and '.'", name)
		}
	}
	return nil
}

// CreateTable creates a table with a stream and returns the stream's ARN,
// "arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>".
func (s *Server) CreateTable(spec TableSpec) (string, error) {
	if err := spec.normalize(); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tables[spec.Name]; ok {
		return "", fmt.Errorf("ddbtest: table %q already exists", spec.Name)
	}
	now := s.now()
	label := now.UTC().Format("2006-01-02T15:04:05.000")
	t := &table{
		spec:    spec,
		arn:     fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", s.cfg.region, s.cfg.account, spec.Name),
		label:   label,
		created: now,
		items:   map[string]Item{},
		byID:    map[string]*shard{},
	}
	t.streamARN = t.arn + "/stream/" + label
	n := uint64(spec.Shards)
	for i := range n {
		lo, _ := bits.Div64(i, 0, n)
		hi := uint64(math.MaxUint64)
		if i+1 < n {
			next, _ := bits.Div64(i+1, 0, n)
			hi = next - 1
		}
		s.addShard(t, "", lo, hi, now)
	}
	s.tables[spec.Name] = t
	s.order = append(s.order, t)
	s.streams[t.streamARN] = t
	return t.streamARN, nil
}

// addShard opens a new shard; its sequence numbers start after every one issued so far.
func (s *Server) addShard(t *table, parent string, lo, hi uint64, now time.Time) *shard {
	t.lastShard = max(t.lastShard+1, uint64(max(now.UnixMilli(), 0)))
	h := sha256.Sum256([]byte(t.streamARN + "|" + strconv.FormatUint(t.lastShard, 10) + "|" + strconv.Itoa(len(t.byID))))
	id := fmt.Sprintf("shardId-%020d-%s", t.lastShard, hex.EncodeToString(h[:4]))
	sh := &shard{id: id, parent: parent, lo: lo, hi: hi, startN: s.seq + 1, listed: true}
	t.shards = append(t.shards, sh)
	t.byID[id] = sh
	return sh
}

// table returns the named table or an error naming it.
func (s *Server) table(name string) (*table, error) {
	t, ok := s.tables[name]
	if !ok {
		return nil, fmt.Errorf("ddbtest: no table %q", name)
	}
	return t, nil
}

// errKey is a key that does not match the table's key schema.
type errKey struct{ msg string }

func (e *errKey) Error() string { return e.msg }

// itemKey checks that item holds the key attributes with their declared types and
// returns the item's identity and the hash of its hash key. exact: item must hold
// nothing but the key (a Key parameter).
func (t *table) itemKey(item Item, exact bool) (string, uint64, error) {
	want := 1
	if t.spec.RangeKey != "" {
		want = 2
	}
	if exact && len(item) != want {
		return "", 0, &errKey{"The provided key element does not match the schema"}
	}
	var b strings.Builder
	var hash uint64
	for i, k := range [2]struct{ name, typ string }{{t.spec.HashKey, t.spec.HashKeyType}, {t.spec.RangeKey, t.spec.RangeKeyType}} {
		if k.name == "" {
			break
		}
		av, ok := item[k.name]
		if !ok {
			return "", 0, &errKey{"One of the required keys was not given a value: " + k.name}
		}
		if string(av.Type) != k.typ {
			return "", 0, &errKey{fmt.Sprintf("One or more parameter values were invalid: Type mismatch for key %s expected: %s actual: %s", k.name, k.typ, av.Type)}
		}
		var canon string
		switch av.Type {
		case state.TypeS:
			if av.S == "" {
				return "", 0, &errKey{"One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: " + k.name}
			}
			canon = av.S
		case state.TypeB:
			if len(av.B) == 0 {
				return "", 0, &errKey{"One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty binary value. Key: " + k.name}
			}
			canon = string(av.B)
		case state.TypeN:
			c, ok := canonicalNumber(av.N)
			if !ok {
				return "", 0, &errKey{fmt.Sprintf("The parameter cannot be converted to a numeric value: %s", av.N)}
			}
			canon = c
		}
		if i == 0 {
			h := sha256.Sum256([]byte(k.typ + ":" + canon))
			hash = binary.BigEndian.Uint64(h[:8])
		}
		b.WriteString(strconv.Itoa(len(canon)))
		b.WriteByte(':')
		b.WriteString(canon)
	}
	return b.String(), hash, nil
}

// canonicalNumber reduces a DynamoDB number to one spelling per value ("1.50", "1.5"
// and "15e-1" are one key): sign, significant digits, exponent.
func canonicalNumber(n string) (string, bool) {
	s := n
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	var digits []byte
	exp := 0
	seenDigit, seenDot := false, false
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			seenDigit = true
			if c == '0' && len(digits) == 0 {
				if seenDot {
					exp--
				}
				continue
			}
			digits = append(digits, c)
			if seenDot {
				exp--
			}
		case c == '.' && !seenDot:
			seenDot = true
		default:
			goto rest
		}
	}
rest:
	if !seenDigit {
		return "", false
	}
	if i < len(s) {
		if s[i] != 'e' && s[i] != 'E' {
			return "", false
		}
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > 1000 || e < -1000 {
			return "", false
		}
		exp += e
	}
	for len(digits) > 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		exp++
	}
	if len(digits) == 0 {
		return "0", true
	}
	if len(digits) > 38 {
		return "", false
	}
	out := string(digits) + "e" + strconv.Itoa(exp)
	if neg {
		out = "-" + out
	}
	return out, true
}

// route returns the open shard whose hash range holds h.
func (t *table) route(h uint64) *shard {
	for _, sh := range t.shards {
		if !sh.closed && sh.lo <= h && h <= sh.hi {
			return sh
		}
	}
	panic("ddbtest: no open shard holds hash " + strconv.FormatUint(h, 16)) // the ranges of open shards cover the space
}

// cloneItem deep-copies an item, so that callers may reuse theirs.
func cloneItem(m Item) Item {
	if m == nil {
		return nil
	}
	out := make(Item, len(m))
	for k, v := range m {
		out[k] = cloneAV(v)
	}
	return out
}

func cloneAV(v state.AttributeValue) state.AttributeValue {
	switch v.Type {
	case state.TypeB:
		v.B = append([]byte{}, v.B...)
	case state.TypeSS:
		v.SS = append([]string{}, v.SS...)
	case state.TypeNS:
		v.NS = append([]string{}, v.NS...)
	case state.TypeBS:
		bs := make([][]byte, len(v.BS))
		for i, b := range v.BS {
			bs[i] = append([]byte{}, b...)
		}
		v.BS = bs
	case state.TypeM:
		v.M = cloneItem(v.M)
		if v.M == nil {
			v.M = Item{}
		}
	case state.TypeL:
		l := make([]state.AttributeValue, len(v.L))
		for i, e := range v.L {
			l[i] = cloneAV(e)
		}
		v.L = l
	}
	return v
}

// checkItem rejects values DynamoDB would reject: unknown types, bad numbers, empty sets
// and duplicate set members are the ones a test is likely to hit.
func checkItem(m Item) error {
	for name, av := range m {
		if name == "" {
			return errors.New("One or more parameter values are not valid. An attribute name cannot be empty")
		}
		if err := checkAV(&av); err != nil {
			return fmt.Errorf("One or more parameter values were invalid: %s: %v", name, err)
		}
	}
	return nil
}

func checkAV(av *state.AttributeValue) error {
	switch av.Type {
	case state.TypeS, state.TypeB, state.TypeBOOL, state.TypeNULL:
		return nil
	case state.TypeN:
		if _, ok := canonicalNumber(av.N); !ok {
			return fmt.Errorf("%q is not a number", av.N)
		}
	case state.TypeSS, state.TypeNS, state.TypeBS:
		var elems []string
		switch av.Type {
		case state.TypeSS:
			elems = av.SS
		case state.TypeNS:
			for _, n := range av.NS {
				c, ok := canonicalNumber(n)
				if !ok {
					return fmt.Errorf("%q is not a number", n)
				}
				elems = append(elems, c)
			}
		case state.TypeBS:
			for _, b := range av.BS {
				elems = append(elems, string(b))
			}
		}
		if len(elems) == 0 {
			return fmt.Errorf("an %s may not be empty", av.Type)
		}
		seen := make(map[string]bool, len(elems))
		for _, e := range elems {
			if seen[e] {
				return fmt.Errorf("input collection contains duplicates")
			}
			seen[e] = true
		}
	case state.TypeM:
		return checkItem(av.M)
	case state.TypeL:
		for i := range av.L {
			if err := checkAV(&av.L[i]); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("unknown attribute type %q", av.Type)
	}
	return nil
}

// keyOf is the key attributes of item.
func (t *table) keyOf(item Item) Item {
	k := Item{t.spec.HashKey: item[t.spec.HashKey]}
	if t.spec.RangeKey != "" {
		k[t.spec.RangeKey] = item[t.spec.RangeKey]
	}
	return k
}

// PutItem writes item (a full replacement, as DynamoDB's PutItem) and returns the stream
// record it produced: INSERT for a new item, MODIFY otherwise, with the images the view
// type asks for. The key attributes must be present with the declared types.
func (s *Server) PutItem(tableName string, item Item) (Change, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.table(tableName)
	if err != nil {
		return Change{}, err
	}
	ch, _, _, err := s.put(t, item)
	return ch, err
}

// put writes item and returns its change and the item it replaced.
func (s *Server) put(t *table, item Item) (Change, Item, bool, error) {
	id, hash, err := t.itemKey(item, false)
	if err != nil {
		return Change{}, nil, false, err
	}
	if err := checkItem(item); err != nil {
		return Change{}, nil, false, &errKey{err.Error()}
	}
	item = cloneItem(item)
	old, existed := t.items[id]
	name := eventInsert
	if existed {
		name = eventModify
	}
	ch, err := s.emit(t, hash, name, t.keyOf(item), item, old, false)
	if err != nil {
		return Change{}, nil, false, err
	}
	t.items[id] = item
	return ch, old, existed, nil
}

// DeleteItem deletes the item with the given key (exactly the key attributes) and
// returns its REMOVE record; ok is false, and no record is written, when there was no
// such item.
func (s *Server) DeleteItem(tableName string, key Item) (Change, bool, error) {
	return s.remove(tableName, key, false)
}

// ExpireItem deletes the item as DynamoDB's time to live does: a REMOVE record whose
// userIdentity is {"type":"Service","principalId":"dynamodb.amazonaws.com"}.
func (s *Server) ExpireItem(tableName string, key Item) (Change, bool, error) {
	return s.remove(tableName, key, true)
}

func (s *Server) remove(tableName string, key Item, ttl bool) (Change, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.table(tableName)
	if err != nil {
		return Change{}, false, err
	}
	ch, _, ok, err := s.delete(t, key, ttl)
	return ch, ok, err
}

func (s *Server) delete(t *table, key Item, ttl bool) (Change, Item, bool, error) {
	id, hash, err := t.itemKey(key, true)
	if err != nil {
		return Change{}, nil, false, err
	}
	old, ok := t.items[id]
	if !ok {
		return Change{}, nil, false, nil
	}
	ch, err := s.emit(t, hash, eventRemove, t.keyOf(old), nil, old, ttl)
	if err != nil {
		return Change{}, nil, false, err
	}
	delete(t.items, id)
	return ch, old, true, nil
}

// emit appends one stream record to the open shard that holds hash.
func (s *Server) emit(t *table, hash uint64, name string, keys, newImage, oldImage Item, ttl bool) (Change, error) {
	view := t.spec.ViewType
	if view != viewNewImage && view != viewNewAndOld {
		newImage = nil
	}
	if view != viewOldImage && view != viewNewAndOld {
		oldImage = nil
	}
	n := s.seq + 1
	seq := seqString(n)
	c := change{
		eventID: eventID(s.cfg.seed, t.streamARN, seq), eventName: name, region: s.cfg.region,
		streamARN: t.streamARN, seq: seq, viewType: view, created: s.now(),
		keys: keys, newImage: newImage, oldImage: oldImage, ttl: ttl,
	}
	lambda, err := c.lambda()
	if err != nil {
		return Change{}, &errKey{err.Error()}
	}
	wire, ok := c.wireFromLambda(lambda)
	if !ok {
		if wire, err = c.wire(); err != nil {
			return Change{}, &errKey{err.Error()}
		}
	}
	s.seq = n
	sh := t.route(hash)
	sh.recs = append(sh.recs, &record{n: n, created: c.created, wire: wire})
	s.stats.Records++
	return Change{Table: t.spec.Name, ShardID: sh.id, SequenceNumber: seq, EventName: name, Record: lambda}, nil
}

// Item returns the item with the given key (exactly the key attributes).
func (s *Server) Item(tableName string, key Item) (Item, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tables[tableName]
	if !ok {
		return nil, false
	}
	id, _, err := t.itemKey(key, true)
	if err != nil {
		return nil, false
	}
	it, ok := t.items[id]
	return cloneItem(it), ok
}

// Items returns the table's current content in no particular order: the truth a test
// compares a copy of the table against.
func (s *Server) Items(tableName string) []Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tables[tableName]
	if !ok {
		return nil
	}
	out := make([]Item, 0, len(t.items))
	for _, it := range t.items {
		out = append(out, cloneItem(it))
	}
	return out
}

// Shards lists the shards of the table's stream as DescribeStream does: creation order,
// parents before children, shards dropped by trimming left out.
func (s *Server) Shards(tableName string) []ShardInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tables[tableName]
	if !ok {
		return nil
	}
	s.retain(t)
	out := make([]ShardInfo, 0, len(t.shards))
	for _, sh := range t.shards {
		out = append(out, sh.info())
	}
	return out
}

// SplitShard closes an open shard (it gets an EndingSequenceNumber) and opens two
// children whose ParentShardId is it, each taking half of its hash range. Later changes
// of the parent's items go to the children.
func (s *Server) SplitShard(tableName, shardID string) (left, right string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.table(tableName)
	if err != nil {
		return "", "", err
	}
	sh, ok := t.byID[shardID]
	switch {
	case !ok || !sh.listed:
		return "", "", fmt.Errorf("ddbtest: table %q has no shard %q", tableName, shardID)
	case sh.closed:
		return "", "", fmt.Errorf("ddbtest: shard %q is closed", shardID)
	case sh.lo == sh.hi:
		return "", "", fmt.Errorf("ddbtest: shard %q holds one hash value; it cannot split", shardID)
	}
	now := s.now()
	s.seq++
	sh.closed, sh.endN, sh.closedAt = true, s.seq, now
	mid := sh.lo + (sh.hi-sh.lo)/2
	l := s.addShard(t, sh.id, sh.lo, mid, now)
	r := s.addShard(t, sh.id, mid+1, sh.hi, now)
	return l.id, r.id, nil
}

// Trim drops the stream records of the table created before `before` and returns how
// many. A closed shard left empty whose end is before `before` disappears from
// DescribeStream, as AWS drops shards 24 hours after they close. Readers whose position
// was trimmed get TrimmedDataAccessException.
func (s *Server) Trim(tableName string, before time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tables[tableName]
	if !ok {
		return 0
	}
	return t.trim(before)
}

func (t *table) trim(before time.Time) int {
	n := 0
	kept := t.shards[:0]
	for _, sh := range t.shards {
		k := 0
		for k < len(sh.recs) && sh.recs[k].created.Before(before) {
			k++
		}
		if k > 0 {
			sh.trimmedN = sh.recs[k-1].n
			rest := sh.recs[k:]
			if k > len(rest) {
				rest = append([]*record(nil), rest...) // let the trimmed records go
			}
			sh.recs = rest
			n += k
		}
		if sh.closed && len(sh.recs) == 0 && sh.closedAt.Before(before) {
			sh.listed = false
			continue
		}
		kept = append(kept, sh)
	}
	clear(t.shards[len(kept):])
	t.shards = kept
	return n
}

// retain trims what the retention period has expired, lazily, as AWS does.
func (s *Server) retain(t *table) {
	t.trim(s.now().Add(-s.cfg.retention))
}
