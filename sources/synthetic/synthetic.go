// Package synthetic generates a DynamoDB Streams workload for a users table — inserts,
// modifies, removes and re-creates, some delivered twice and some out of order — together
// with the final state a correct latest-state table must reach. `streamhub dev` and the
// e2e tests feed it through Kafka.
package synthetic

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strconv"
	"time"
)

// Options shape the workload.
type Options struct {
	// Items is the number of distinct items (hash keys "user#0".."user#N-1").
	Items int
	// Seed makes the workload reproducible.
	Seed uint64
	// MaxDeliveries is how many times a change may be delivered (1..MaxDeliveries). Default 3.
	MaxDeliveries int
	// Window is how many deliveries may be reordered among themselves. Default 8; 1 keeps order.
	Window int
	// RemoveRate is the chance a change to a live item is a REMOVE. Default 0.2.
	RemoveRate float64
	// Region and StreamARN stamp the records. Defaults name a users table in us-east-1.
	Region    string
	StreamARN string
	// Start is the ApproximateCreationDateTime of the first change. Default now.
	Start time.Time
}

// Delivery is one Kafka message: the item key and a DynamoDB Streams record as Lambda
// receives it.
type Delivery struct {
	Key   string
	Value []byte
}

// Expected is the final state of one item after every change.
type Expected struct {
	Key     string
	Deleted bool
	// Item is the plain JSON the state must hold (nil when Deleted).
	Item map[string]any
}

// Generator produces changes one at a time. It is not safe for concurrent use.
type Generator struct {
	opts    Options
	rng     *rand.Rand
	seq     *big.Int
	clock   time.Time
	live    []bool
	version []int
	last    [][]byte // each live item's current image JSON, the next change's OldImage
	final   map[string]Expected
	pending []Delivery
	changes int
}

// New returns a generator.
func New(opts Options) *Generator {
	if opts.Items <= 0 {
		opts.Items = 100
	}
	if opts.MaxDeliveries <= 0 {
		opts.MaxDeliveries = 3
	}
	if opts.Window <= 0 {
		opts.Window = 8
	}
	if opts.RemoveRate == 0 {
		opts.RemoveRate = 0.2
	}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.StreamARN == "" {
		opts.StreamARN = "arn:aws:dynamodb:us-east-1:123456789012:table/users/stream/2026-01-01T00:00:00.000"
	}
	if opts.Start.IsZero() {
		opts.Start = time.Now().UTC().Truncate(time.Second)
	}
	// DynamoDB sequence numbers are 21+ digit decimals: start past 2^64 so nothing that
	// squeezes them into a uint64 survives the workload.
	seq, _ := new(big.Int).SetString("100000000000000000000", 10)
	return &Generator{
		opts:    opts,
		rng:     rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		seq:     seq,
		clock:   opts.Start,
		live:    make([]bool, opts.Items),
		version: make([]int, opts.Items),
		last:    make([][]byte, opts.Items),
		final:   map[string]Expected{},
	}
}

// Changes is the number of distinct changes generated so far.
func (g *Generator) Changes() int { return g.changes }

// Next makes one change and returns the deliveries that are due: the change delivered one
// to MaxDeliveries times, mixed with earlier pending deliveries so that some arrive out of
// order.
func (g *Generator) Next() []Delivery {
	g.pending = append(g.pending, g.change()...)
	g.rng.Shuffle(len(g.pending), func(i, j int) { g.pending[i], g.pending[j] = g.pending[j], g.pending[i] })
	if len(g.pending) < g.opts.Window {
		return nil
	}
	n := len(g.pending) - g.opts.Window + 1
	out := append([]Delivery(nil), g.pending[:n]...)
	g.pending = append(g.pending[:0], g.pending[n:]...)
	return out
}

// Flush returns every delivery still held back.
func (g *Generator) Flush() []Delivery {
	out := g.pending
	g.pending = nil
	return out
}

// Final is the state every item must end in, by item key.
func (g *Generator) Final() map[string]Expected { return g.final }

// ItemKey is the encoded item key of item i (DESIGN.md, "Item key").
func ItemKey(i int) string { return fmt.Sprintf(`["user#%d","profile"]`, i) }

func (g *Generator) change() []Delivery {
	i := g.rng.IntN(g.opts.Items)
	g.changes++
	g.seq.Add(g.seq, big.NewInt(int64(1+g.rng.IntN(1000))))
	g.clock = g.clock.Add(time.Duration(1+g.rng.IntN(50)) * time.Millisecond)
	key := ItemKey(i)
	pk := fmt.Sprintf("user#%d", i)

	var name string
	switch {
	case !g.live[i]:
		name = "INSERT"
	case g.rng.Float64() < g.opts.RemoveRate:
		name = "REMOVE"
	default:
		name = "MODIFY"
	}
	oldImage := g.last[i]
	var newImage []byte
	if name == "REMOVE" {
		g.live[i] = false
		g.last[i] = nil
		g.final[key] = Expected{Key: key, Deleted: true}
	} else {
		g.version[i]++
		var plain map[string]any
		newImage, plain = g.image(i, pk)
		g.live[i] = true
		g.last[i] = newImage
		g.final[key] = Expected{Key: key, Item: plain}
	}

	// The record is written by hand, not through encoding/json: the benchmark generates a
	// million of them, and every string here is plain ASCII that needs no escaping.
	b := make([]byte, 0, 256+len(newImage)+len(oldImage))
	b = append(b, `{"eventID":"`...)
	b = strconv.AppendUint(b, g.rng.Uint64(), 16)
	b = append(b, `","eventName":"`...)
	b = append(b, name...)
	b = append(b, `","eventVersion":"1.1","eventSource":"aws:dynamodb","awsRegion":"`...)
	b = append(b, g.opts.Region...)
	b = append(b, `","eventSourceARN":"`...)
	b = append(b, g.opts.StreamARN...)
	b = append(b, `","dynamodb":{"ApproximateCreationDateTime":`...)
	b = strconv.AppendFloat(b, float64(g.clock.UnixMilli())/1000, 'f', 3, 64)
	b = append(b, `,"Keys":{"pk":{"S":"`...)
	b = append(b, pk...)
	b = append(b, `"},"sk":{"S":"profile"}}`...)
	if newImage != nil {
		b = append(b, `,"NewImage":`...)
		b = append(b, newImage...)
	}
	if oldImage != nil {
		b = append(b, `,"OldImage":`...)
		b = append(b, oldImage...)
	}
	b = append(b, `,"SequenceNumber":"`...)
	b = g.seq.Append(b, 10)
	b = append(b, `","SizeBytes":`...)
	b = strconv.AppendInt(b, int64(200+g.rng.IntN(300)), 10)
	b = append(b, `,"StreamViewType":"NEW_AND_OLD_IMAGES"}}`...)

	d := Delivery{Key: key, Value: b}
	out := []Delivery{d}
	for extra := g.rng.IntN(g.opts.MaxDeliveries); extra > 0; extra-- {
		out = append(out, d)
	}
	return out
}

// image is item i at its current version, as DynamoDB AttributeValue JSON and as the plain
// JSON the state must hold. It uses every attribute type, and numbers no float64 can hold.
func (g *Generator) image(i int, pk string) ([]byte, map[string]any) {
	v := g.version[i]
	updated := g.clock.UTC().Format("2006-01-02T15:04:05.000Z")
	balance := fmt.Sprintf("%d%018d.%02d", i+1, v, v%100) // e.g. 12000000000000000003.03
	avatar := base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "png:%d:%d", i, v))
	name := fmt.Sprintf("User %d v%d", i, v)
	tag := fmt.Sprintf("v%d", v)
	attr := fmt.Appendf(nil, `{"pk":{"S":%q},"sk":{"S":"profile"},"name":{"S":%q},"visits":{"N":"%d"},`+
		`"balance":{"N":%q},"active":{"BOOL":%t},"nickname":{"NULL":true},"tags":{"SS":["beta",%q]},`+
		`"scores":{"NS":["1","2.50"]},"avatar":{"B":%q},`+
		`"prefs":{"M":{"theme":{"S":"dark"},"langs":{"L":[{"S":"en"},{"N":"7"}]}}},"updatedAt":{"S":%q}}`,
		pk, name, v, balance, v%2 == 0, tag, avatar, updated)
	plain := map[string]any{
		"pk":        pk,
		"sk":        "profile",
		"name":      name,
		"visits":    json.Number(strconv.Itoa(v)),
		"balance":   json.Number(balance),
		"active":    v%2 == 0,
		"nickname":  nil,
		"tags":      []any{"beta", tag},
		"scores":    []any{json.Number("1"), json.Number("2.50")},
		"avatar":    avatar,
		"prefs":     map[string]any{"theme": "dark", "langs": []any{"en", json.Number("7")}},
		"updatedAt": updated,
	}
	return attr, plain
}
