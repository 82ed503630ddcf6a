package bench

// The latency benchmark's watchers: which writes are in flight, and the pollers of the
// view API, the CDC topic and PostgreSQL that see them arrive.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/emitters/warehouse"
	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/sources/dynamodb/ddbtest"
	"github.com/streamhub/streamhub/state"
)

// latItems are the benchmark's items: their attribute values, view API queries and
// PostgreSQL keys.
type latItems struct {
	pk    []string
	query []string
	key   []string
	byKey map[string]int
}

func newLatItems(n int) *latItems {
	it := &latItems{pk: make([]string, n), query: make([]string, n), key: make([]string, n), byKey: make(map[string]int, n)}
	for i := range n {
		it.pk[i] = "item#" + strconv.Itoa(i)
		it.query[i] = url.Values{"pk": {it.pk[i]}}.Encode()
		k, err := state.KeyFromStrings([]string{it.pk[i]}, nil)
		if err != nil {
			panic(err) // a plain string key always encodes
		}
		it.key[i] = k
		it.byKey[k] = i
	}
	return it
}

// latProbe tracks, for one place writes become visible in, which writes have been seen
// and when.
type latProbe struct {
	mu sync.Mutex
	// pending holds, per item, the writes not seen yet, in version order.
	pending map[int][]latPending
	lat     []time.Duration // by write index
	seen    []bool
	left    int
	// firstPoll counts the writes seen by the first poll of their item after it became
	// ready.
	firstPoll int
}

// latReady is an item to poll and its oldest unseen version.
type latReady struct {
	item int
	seq  int64
}

type latPending struct {
	idx int
	seq int64
	at  time.Time
}

func newLatProbe(writes int) *latProbe {
	return &latProbe{pending: map[int][]latPending{}, lat: make([]time.Duration, writes), seen: make([]bool, writes)}
}

// add records write idx of item, version seq, made at at.
func (p *latProbe) add(item, idx int, seq int64, at time.Time) {
	p.mu.Lock()
	p.pending[item] = append(p.pending[item], latPending{idx: idx, seq: seq, at: at})
	p.left++
	p.mu.Unlock()
}

// items appends the items with writes not seen yet to buf; with ready set, only those
// whose oldest unseen version ready accepts.
func (p *latProbe) items(buf []latReady, ready func(item int, seq int64) bool) []latReady {
	p.mu.Lock()
	for it, ws := range p.pending {
		if ready == nil || ready(it, ws[0].seq) {
			buf = append(buf, latReady{it, ws[0].seq})
		}
	}
	p.mu.Unlock()
	return buf
}

// observe says that a poll started at at saw version seq of item: every write of the item
// up to that version is seen. first says the poll was the item's first since it became
// ready (see latWatch.inKafka).
func (p *latProbe) observe(item int, seq int64, at time.Time, first bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ws := p.pending[item]
	n := 0
	for n < len(ws) && ws[n].seq <= seq {
		w := ws[n]
		p.lat[w.idx], p.seen[w.idx] = max(0, at.Sub(w.at)), true
		if first {
			p.firstPoll++
		}
		p.left--
		n++
	}
	if n == len(ws) {
		delete(p.pending, item)
	} else {
		p.pending[item] = ws[n:]
	}
}

func (p *latProbe) firstPolls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.firstPoll
}

func (p *latProbe) remaining() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.left
}

// percentiles of the seen writes' latencies.
func (p *latProbe) percentiles() Percentiles {
	p.mu.Lock()
	var ds []time.Duration
	for i, ok := range p.seen {
		if ok {
			ds = append(ds, p.lat[i])
		}
	}
	p.mu.Unlock()
	return percentilesOf(ds)
}

// percentilesOf sorts ds and takes its nearest-rank percentiles.
func percentilesOf(ds []time.Duration) Percentiles {
	if len(ds) == 0 {
		return Percentiles{}
	}
	slices.Sort(ds)
	return Percentiles{N: len(ds), P50: sortedQuantile(ds, 0.50), P99: sortedQuantile(ds, 0.99), Max: ds[len(ds)-1]}
}

// latViewWorkers is how many view API requests a round of polls has in flight.
const latViewWorkers = 4

// latWatch writes the items and watches them become visible.
type latWatch struct {
	base    string
	http    *http.Client
	db      *pgx.Conn
	pgTable string
	items   *latItems
	o       LatencyOptions
	// cdcSeq is, per item, the newest version read from the CDC topic.
	cdcSeq []atomic.Int64

	mu                 sync.Mutex
	viewRounds, pgRuns int64
	viewTime, pgTime   time.Duration
	viewRequests       int64
}

// probes makes the probes of one phase: the view API's, then PostgreSQL's with a DSN.
func (w *latWatch) probes(writes int) []*latProbe {
	ps := []*latProbe{newLatProbe(writes)}
	if w.db != nil {
		ps = append(ps, newLatProbe(writes))
	}
	return ps
}

// put writes version seq of item as write idx and hands it to the probes.
func (w *latWatch) put(srv *ddbtest.Server, probes []*latProbe, idx, item int, seq int64) error {
	_, err := srv.PutItem(latencyTable, ddbtest.Item{
		"pk":      state.StringValue(w.items.pk[item]),
		"seq":     state.NumberValue(strconv.FormatInt(seq, 10)),
		"payload": state.StringValue("a value of the size of a small profile, some forty bytes"),
	})
	if err != nil {
		return fmt.Errorf("bench: latency: PutItem %s: %w", w.items.pk[item], err)
	}
	at := time.Now()
	for _, p := range probes {
		p.add(item, idx, seq, at)
	}
	return nil
}

// latPhase is the context of one phase's watchers; its cause is a watcher's error.
type latPhase = context.Context

// start runs the watchers of probes until the returned stop is called or one fails.
func (w *latWatch) start(ctx context.Context, probes []*latProbe) (latPhase, func()) {
	w.mu.Lock()
	w.viewRounds, w.viewTime, w.viewRequests, w.pgRuns, w.pgTime = 0, 0, 0, 0, 0
	w.mu.Unlock()
	pctx, cancel := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	run := func(f func(context.Context, *latProbe) error, p *latProbe) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(pctx, p); err != nil && pctx.Err() == nil {
				cancel(err)
			}
		}()
	}
	run(w.watchView, probes[0])
	if len(probes) > 1 {
		run(w.watchPostgres, probes[1])
	}
	var once sync.Once
	return pctx, func() { once.Do(func() { cancel(nil); wg.Wait() }) }
}

// failure explains why a phase ended early.
func (w *latWatch) failure(phase latPhase, runErr chan error) error {
	select {
	case err := <-runErr:
		runErr <- err
		return fmt.Errorf("bench: latency: the pipeline stopped: %v", err)
	default:
	}
	return context.Cause(phase)
}

// drain waits until every write of probes has been seen.
func (w *latWatch) drain(phase latPhase, probes []*latProbe, runErr chan error) error {
	deadline := time.After(w.o.Drain)
	for {
		left := 0
		for _, p := range probes {
			left += p.remaining()
		}
		if left == 0 {
			return nil
		}
		select {
		case <-phase.Done():
			return w.failure(phase, runErr)
		case err := <-runErr:
			runErr <- err
			return fmt.Errorf("bench: latency: the pipeline stopped: %v", err)
		case <-deadline:
			var parts []string
			for i, p := range probes {
				parts = append(parts, fmt.Sprintf("%d in %s", p.remaining(), []string{"the view API", "PostgreSQL"}[i]))
			}
			return fmt.Errorf("writes never seen within %s of the last write: %s", w.o.Drain, strings.Join(parts, ", "))
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// watchView asks the view API, every ViewPoll, for each item whose oldest unseen write has
// reached the CDC topic (inKafka), latViewWorkers requests at a time. A round that takes
// longer than ViewPoll is followed at once by the next.
func (w *latWatch) watchView(ctx context.Context, p *latProbe) error {
	tick := time.NewTicker(w.o.ViewPoll)
	defer tick.Stop()
	type job struct {
		item  int
		first bool
	}
	jobs := make(chan job)
	errs := make(chan error, latViewWorkers)
	var round, workers sync.WaitGroup
	defer func() { close(jobs); workers.Wait() }()
	for range latViewWorkers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for j := range jobs {
				if err := w.lookView(ctx, p, j.item, j.first); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
				round.Done()
			}
		}()
	}
	// polled is, per item, the oldest unseen version at its last poll: a poll for another
	// version is that write's first.
	polled := make([]int64, len(w.items.pk))
	var buf []latReady
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errs:
			return err
		case <-tick.C:
		}
		buf = p.items(buf[:0], w.inKafka)
		if len(buf) == 0 {
			continue
		}
		start := time.Now()
		round.Add(len(buf))
		for _, r := range buf {
			jobs <- job{r.item, polled[r.item] != r.seq}
			polled[r.item] = r.seq
		}
		round.Wait()
		w.mu.Lock()
		w.viewRounds++
		w.viewTime += time.Since(start)
		w.viewRequests += int64(len(buf))
		w.mu.Unlock()
	}
}

// lookView looks item up in the view API once.
func (w *latWatch) lookView(ctx context.Context, p *latProbe, item int, first bool) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.base+w.items.query[item], nil)
	if err != nil {
		return err
	}
	sent := time.Now()
	resp, err := w.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("view API: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		io.Copy(io.Discard, resp.Body)
		return nil // not there yet
	default:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("view API: GET %s: %s: %s", req.URL, resp.Status, msg)
	}
	var got struct {
		Item struct {
			Seq int64 `json:"seq"`
		} `json:"item"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		return fmt.Errorf("view API: GET %s: %w", req.URL, err)
	}
	p.observe(item, got.Item.Seq, sent, first)
	return nil
}

// inKafka reports whether version seq of item has reached the CDC topic. The view API
// cannot show a version before the processor has read it from there, so the view watcher
// polls an item only from then on: a few requests per write instead of one per poll
// interval for its whole latency, which on a small machine would take as much CPU as the
// pipeline itself.
func (w *latWatch) inKafka(item int, seq int64) bool { return w.cdcSeq[item].Load() >= seq }

// followCDC reads the CDC topic from its start (read committed, as the processor does) and
// records the newest version of each item seen there.
func (w *latWatch) followCDC(ctx context.Context, conn *kafka.Conn, topic string) error {
	cl, err := conn.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return err
	}
	defer cl.Close()
	var rec struct {
		DynamoDB struct {
			NewImage struct {
				Seq struct {
					N string `json:"N"`
				} `json:"seq"`
			} `json:"NewImage"`
		} `json:"dynamodb"`
	}
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err := fs.Err0(); err != nil {
			return fmt.Errorf("CDC topic %s: %w", topic, err)
		}
		for it := fs.RecordIter(); !it.Done(); {
			r := it.Next()
			item, ok := w.items.byKey[string(r.Key)]
			if !ok {
				continue
			}
			rec.DynamoDB.NewImage.Seq.N = ""
			if err := json.Unmarshal(r.Value, &rec); err != nil {
				return fmt.Errorf("CDC topic %s, offset %d: %w", topic, r.Offset, err)
			}
			seq, err := strconv.ParseInt(rec.DynamoDB.NewImage.Seq.N, 10, 64)
			if err != nil {
				return fmt.Errorf("CDC topic %s, offset %d: seq %q: %w", topic, r.Offset, rec.DynamoDB.NewImage.Seq.N, err)
			}
			if seq > w.cdcSeq[item].Load() {
				w.cdcSeq[item].Store(seq) // this goroutine is the only writer
			}
		}
	}
}

// watchPostgres runs, every PostgresPoll, one query for the seq column of the rows with a
// write not seen in PostgreSQL yet.
func (w *latWatch) watchPostgres(ctx context.Context, p *latProbe) error {
	tick := time.NewTicker(w.o.PostgresPoll)
	defer tick.Stop()
	q := fmt.Sprintf("SELECT %s, %s FROM %s WHERE %[1]s = ANY($1)", warehouse.Quote(warehouse.ColKey), warehouse.Quote("seq"), w.pgTable)
	var buf []latReady
	var keys []string
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		buf = p.items(buf[:0], nil)
		if len(buf) == 0 {
			continue
		}
		keys = keys[:0]
		for _, r := range buf {
			keys = append(keys, w.items.key[r.item])
		}
		sent := time.Now()
		rows, err := w.db.Query(ctx, q, keys)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("PostgreSQL: %w", err)
		}
		var key string
		var seq *int64
		_, err = pgx.ForEachRow(rows, []any{&key, &seq}, func() error {
			if it, ok := w.items.byKey[key]; ok && seq != nil {
				p.observe(it, *seq, sent, false)
			}
			return nil
		})
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, context.Canceled) {
				return nil
			}
			return fmt.Errorf("PostgreSQL: %w", err)
		}
		w.mu.Lock()
		w.pgRuns++
		w.pgTime += time.Since(sent)
		w.mu.Unlock()
	}
}

func (w *latWatch) viewStats() (time.Duration, int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.viewRounds == 0 {
		return 0, w.viewRequests
	}
	return w.viewTime / time.Duration(w.viewRounds), w.viewRequests
}

func (w *latWatch) pgStats() (time.Duration, int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pgRuns == 0 {
		return 0, 0
	}
	return w.pgTime / time.Duration(w.pgRuns), w.pgRuns
}
