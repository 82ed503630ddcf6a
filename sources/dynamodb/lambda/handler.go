package lambda

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/state"
)

// Handler writes the records of DynamoDB ESM events into Kafka. Build one per process
// with NewHandler: Lambda keeps a warm process for many invocations, and they all share
// its Kafka client and connections. Handle is safe for concurrent use, but invocations
// run one at a time: a transactional producer has one transaction at a time, and Lambda
// gives a process one invocation at a time anyway.
type Handler struct {
	cfg   Config
	kopts []kgo.Opt
	log   *slog.Logger
	// txnID is this process's transactional ID, kept for the process's life so that a
	// client built again after a failure fences the one it replaces and aborts its open
	// transaction at once, instead of after the transaction timeout.
	txnID string

	mu     sync.Mutex
	client *kgo.Client // nil: built on the next invocation
	closed bool
}

// errNotAcked marks a record whose acknowledgement had not arrived when the invocation
// stopped waiting.
var errNotAcked = errors.New("not acknowledged by Kafka in time")

// NewHandler creates the handler and its franz-go client from kafka.ClientOpts (seed
// brokers, TLS, SASL, acks=all, murmur2 partitioning, compression), transactional with
// the ID cfg.TransactionalIDPrefix-<random>, with records timing out after cfg.Timeout;
// opts are applied after those. The client connects on first use, so a broker that is
// down fails invocations (which Lambda retries), not the function's start.
func NewHandler(ctx context.Context, cfg Config, opts ...kgo.Opt) (*Handler, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch {
	case cfg.Topic == "":
		return nil, errors.New("streamhub-lambda: no topic")
	case len(cfg.Keys) == 0 || len(cfg.Keys) > 2:
		return nil, fmt.Errorf("streamhub-lambda: %d key attributes, want 1 (hash) or 2 (hash, range)", len(cfg.Keys))
	case cfg.Kafka.Embedded():
		return nil, errors.New("streamhub-lambda: the embedded broker does not run in Lambda")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	if cfg.Kafka.ClientID == "" {
		cfg.Kafka.ClientID = ClientID
	}
	kopts, err := kafka.ClientOpts(cfg.Kafka, cfg.Kafka.Brokers)
	if err != nil {
		return nil, fmt.Errorf("streamhub-lambda: %w", err)
	}
	if cfg.TransactionalIDPrefix == "" {
		cfg.TransactionalIDPrefix = DefaultTransactionalIDPrefix
	}
	// Random, not derived from the shard: the ESM event does not name the shard, and
	// two execution environments must never share an ID (each would fence the other).
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("streamhub-lambda: transactional ID: %w", err)
	}
	txnID := cfg.TransactionalIDPrefix + "-" + hex.EncodeToString(rnd[:])
	kopts = append(kopts,
		kgo.RecordDeliveryTimeout(cfg.Timeout),
		kgo.TransactionalID(txnID),
		kgo.TransactionTimeout(transactionTimeout(cfg.Timeout)),
		kgo.WithLogger(kgoLogger{cfg.Logger}),
	)
	h := &Handler{cfg: cfg, kopts: append(kopts, opts...), log: cfg.Logger, txnID: txnID}
	// Built now, so that options that cannot work fail the function's start.
	if err := h.connect(); err != nil {
		return nil, err
	}
	return h, nil
}

// transactionTimeout is how long the broker keeps a transaction open: the wait for
// acknowledgements and the commit fit in it. A function killed inside a transaction
// (Lambda timeout, crash) leaves it open this long; read_committed readers of its
// partitions wait for it, then the broker aborts it. Brokers refuse a producer asking for
// more than transaction.max.timeout.ms, 15 minutes by default (also Lambda's longest
// invocation).
func transactionTimeout(produce time.Duration) time.Duration {
	return min(produce+30*time.Second, 15*time.Minute)
}

// TransactionalID is the Kafka transactional ID of this process's producer.
func (h *Handler) TransactionalID() string { return h.txnID }

// connect builds the Kafka client; h.mu is held or h is not shared yet.
func (h *Handler) connect() error {
	cl, err := kgo.NewClient(h.kopts...)
	if err != nil {
		return fmt.Errorf("streamhub-lambda: new Kafka client: %w", err)
	}
	h.client = cl
	return nil
}

// drop closes a client whose transaction could not be ended cleanly. The next
// invocation builds a new one with the same transactional ID, whose initialisation
// bumps the producer epoch: the broker aborts what the old one left open and refuses
// anything it still sends. h.mu is held.
func (h *Handler) drop() {
	if h.client != nil {
		h.client.Close()
		h.client = nil
	}
}

// item is one record of an invocation.
type item struct {
	seq string
	kr  *kgo.Record // nil: not produced
	// dlq: kr goes to the DLQ; reason and err say why.
	dlq    bool
	reason string
	err    error
}

// acks collects the produce results of one invocation. Promises may still arrive after
// the invocation has stopped waiting; they land here, never in another invocation.
type acks struct {
	mu   sync.Mutex
	errs []error
	done []bool
}

func (a *acks) set(i int, err error) {
	a.mu.Lock()
	a.errs[i], a.done[i] = err, true
	a.mu.Unlock()
}

// result is the outcome of record i: nil when Kafka acknowledged it.
func (a *acks) result(i int) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.done[i] {
		return errNotAcked
	}
	return a.errs[i]
}

// Handle writes the records of one ESM event ({"Records":[…]}) to Kafka in one
// transaction and reports what was not committed as batch item failures (ItemIdentifier
// = the record's SequenceNumber). Lambda resumes from the lowest reported sequence
// number, so every record from the first one not committed on is reported: when the
// transaction fails, that is the whole batch, and the retry writes each record once.
// Records are kept as raw bytes (events.DynamoDBEventRecord would lose the exact text of
// numbers) and written as Normalize makes them.
//
// A record that cannot be parsed or keyed goes to the DLQ topic (in the same
// transaction) when there is one; without one, the records before it are committed and
// it and every record after it are reported. An event that is not a stream event at all
// returns an error, and Lambda retries the whole batch.
func (h *Handler) Handle(ctx context.Context, event json.RawMessage) (events.DynamoDBEventResponse, error) {
	var ev struct {
		Records *[]json.RawMessage `json:"Records"`
	}
	if err := json.Unmarshal(event, &ev); err != nil {
		return events.DynamoDBEventResponse{}, fmt.Errorf("streamhub-lambda: event is not a DynamoDB stream event: %w", err)
	}
	if ev.Records == nil {
		return events.DynamoDBEventResponse{}, errors.New(`streamhub-lambda: event is not a DynamoDB stream event: no "Records" array`)
	}
	recs := *ev.Records
	n := len(recs)
	items := make([]item, n)
	// stop is the first record that fails before any produce (malformed, no DLQ): it and
	// everything after it are reported, so none of them is produced.
	stop := n
	for i, raw := range recs {
		items[i] = h.prepare(raw)
		if items[i].kr == nil && stop == n {
			stop = i
			h.log.Error("record cannot be bridged and there is no DLQ topic: reporting it as failed; set "+EnvDLQTopic+
				" or the shard stays blocked until the event source mapping gives up on it",
				"sequence", items[i].seq, "reason", items[i].reason, "error", items[i].err)
		}
	}

	start := time.Now()
	first, firstErr := stop, error(nil)
	if failed, err := h.write(ctx, items[:stop]); err != nil {
		first, firstErr = failed, err
	}
	written, dlq := 0, 0
	for i := range first {
		if items[i].dlq {
			dlq++
			h.log.Warn("record sent to DLQ", "sequence", items[i].seq, "reason", items[i].reason,
				"error", items[i].err, "dlq", h.cfg.DLQTopic)
		} else {
			written++
		}
	}
	resp := events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{}}
	if first == n {
		h.log.Debug("batch written", "records", n, "written", written, "dlq", dlq,
			"took_ms", time.Since(start).Milliseconds())
		return resp, nil
	}
	if firstErr == nil {
		firstErr = items[first].err
	}
	if items[first].seq == "" {
		// A failure Lambda cannot be pointed at: fail the invocation, and Lambda retries
		// the whole batch.
		return events.DynamoDBEventResponse{}, fmt.Errorf(
			"streamhub-lambda: record %d of %d failed and has no dynamodb.SequenceNumber to report: %v",
			first+1, n, firstErr)
	}
	for i := first; i < n; i++ {
		if s := items[i].seq; s != "" {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: s})
		}
	}
	h.log.Warn("batch not fully written: reporting the first failed record and all after it for retry",
		"records", n, "written", written, "dlq", dlq, "reported", len(resp.BatchItemFailures),
		"first_failed_sequence", items[first].seq, "error", firstErr,
		"took_ms", time.Since(start).Milliseconds())
	return resp, nil
}

// abortTimeout bounds the abort of a failed transaction. A client that cannot abort in
// time is dropped, which is as safe: its successor fences it.
const abortTimeout = 5 * time.Second

// write commits the Kafka records of items in one transaction, all or none. On failure
// it returns the index of the first record to report, always 0: an aborted transaction
// leaves none of the batch to read_committed readers, so Lambda must send all of it
// again; and why.
func (h *Handler) write(ctx context.Context, items []item) (int, error) {
	if len(items) == 0 {
		return 0, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return 0, errors.New("the handler is closed")
	}
	if h.client == nil {
		if err := h.connect(); err != nil {
			return 0, err
		}
	}
	cl := h.client
	if err := cl.BeginTransaction(); err != nil {
		h.drop()
		return 0, fmt.Errorf("begin transaction: %w", err)
	}

	waitCtx, cancel := h.waitContext(ctx)
	defer cancel()
	a := &acks{errs: make([]error, len(items)), done: make([]bool, len(items))}
	var wg sync.WaitGroup
	wg.Add(len(items))
	for i := range items {
		cl.Produce(waitCtx, items[i].kr, func(_ *kgo.Record, err error) {
			a.set(i, err)
			wg.Done()
		})
	}
	// Flush sends what lingers now; the promises say what became of each record.
	_ = cl.Flush(waitCtx)
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	select {
	case <-all:
	case <-waitCtx.Done():
	}
	for i := range items {
		if err := a.result(i); err != nil {
			if errors.Is(err, errNotAcked) {
				// The broker is not answering, and an abort would wait on it as long:
				// drop the client instead, its successor fences it.
				h.drop()
			} else {
				h.abort(ctx)
			}
			return 0, fmt.Errorf("record %d of %d (sequence %q): %w; the transaction is not committed",
				i+1, len(items), items[i].seq, describe(items[i], err))
		}
	}

	endCtx, cancelEnd := h.waitContext(ctx)
	defer cancelEnd()
	if err := cl.EndTransaction(endCtx, kgo.TryCommit); err != nil {
		// The commit may have happened with its answer lost; the batch is reported
		// anyway, so such a commit is written again by Lambda's retry (see the package
		// doc). The abort makes sure nothing of it is left open.
		h.abort(ctx)
		return 0, fmt.Errorf("commit: %w", err)
	}
	return 0, nil
}

// abort ends a failed transaction, or drops the client when it cannot. h.mu is held.
func (h *Handler) abort(ctx context.Context) {
	dl, ok := ctx.Deadline()
	now := time.Now()
	actx, cancel := context.WithDeadline(context.WithoutCancel(ctx), waitDeadline(now, abortTimeout, dl, ok))
	defer cancel()
	if err := h.client.AbortBufferedRecords(actx); err != nil {
		h.log.Warn("abort buffered records failed: building a new Kafka client", "error", err)
		h.drop()
		return
	}
	if err := h.client.EndTransaction(actx, kgo.TryAbort); err != nil {
		h.log.Warn("abort transaction failed: building a new Kafka client", "error", err)
		h.drop()
	}
}

func describe(it item, produceErr error) error {
	if produceErr != nil {
		if it.dlq {
			return fmt.Errorf("writing to DLQ topic: %w (record: %v)", produceErr, it.err)
		}
		return produceErr
	}
	return it.err
}

// prepare builds the Kafka record for one raw stream record: the CDC record, or the DLQ
// record for one that cannot be parsed or keyed, or none (kr nil) when there is no DLQ.
func (h *Handler) prepare(raw []byte) item {
	rec, value, err := Normalize(raw)
	var key string
	if err == nil {
		if key, err = state.EncodeKey(rec.DynamoDB.Keys, h.cfg.Keys); err != nil {
			err = withinKeys(err)
		}
	}
	if err == nil {
		seq := rec.DynamoDB.SequenceNumber
		return item{seq: seq, kr: &kgo.Record{
			Topic:   h.cfg.Topic,
			Key:     []byte(key),
			Value:   value,
			Headers: h.headers(rec.EventSourceARN, seq),
		}}
	}

	var arn, seq string
	if rec != nil {
		arn, seq = rec.EventSourceARN, rec.DynamoDB.SequenceNumber
	} else {
		arn, seq = peek(raw)
	}
	reason := state.ReasonOf(err)
	if reason == "" {
		reason = "invalid"
	}
	it := item{seq: seq, reason: reason, err: err}
	if h.cfg.DLQTopic == "" {
		return it
	}
	headers := append(h.headers(arn, seq),
		kgo.RecordHeader{Key: HeaderDLQReason, Value: []byte(reason)},
		kgo.RecordHeader{Key: HeaderDLQError, Value: []byte(err.Error())},
		kgo.RecordHeader{Key: HeaderDLQTable, Value: []byte(h.table(arn))},
	)
	var k []byte
	if seq != "" {
		k = []byte(seq)
	}
	it.dlq = true
	it.kr = &kgo.Record{Topic: h.cfg.DLQTopic, Key: k, Value: raw, Headers: headers}
	return it
}

// withinKeys places a key error under dynamodb.Keys, as state.ChangeFromRecord does.
func withinKeys(err error) error {
	var ie *state.InvalidError
	if !errors.As(err, &ie) {
		return fmt.Errorf("dynamodb.Keys: %w", err)
	}
	out := *ie
	out.Field = "dynamodb.Keys"
	if ie.Field != "" {
		out.Field += "." + ie.Field
	}
	return &out
}

func (h *Handler) headers(arn, seq string) []kgo.RecordHeader {
	return []kgo.RecordHeader{
		{Key: HeaderTable, Value: []byte(h.table(arn))},
		{Key: HeaderStream, Value: []byte(arn)},
		{Key: HeaderSequence, Value: []byte(seq)},
		{Key: HeaderSource, Value: []byte(SourceLambda)},
	}
}

func (h *Handler) table(arn string) string {
	if h.cfg.Table != "" {
		return h.cfg.Table
	}
	return TableFromARN(arn)
}

// peek reads what it can of a record that state.ParseRecord refused: its stream ARN and
// sequence number, to name it in headers, logs and the batch response.
func peek(raw []byte) (arn, seq string) {
	var p struct {
		ARN      string `json:"eventSourceARN"`
		DynamoDB struct {
			Seq string `json:"SequenceNumber"`
		} `json:"dynamodb"`
	}
	_ = json.Unmarshal(raw, &p) // fields of the right type are kept even on error
	return p.ARN, p.DynamoDB.Seq
}

// waitContext bounds the wait for acknowledgements by cfg.Timeout and by the
// invocation's deadline, less a margin to answer Lambda before it times the function out.
func (h *Handler) waitContext(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	now := time.Now()
	return context.WithDeadline(ctx, waitDeadline(now, h.cfg.Timeout, dl, ok))
}

// waitDeadline is when an invocation starting at now stops waiting: after timeout, or a
// tenth of the time left (at most a second) before the invocation's deadline, whichever
// comes first, and never before now plus a millisecond.
func waitDeadline(now time.Time, timeout time.Duration, deadline time.Time, hasDeadline bool) time.Time {
	d := timeout
	if hasDeadline {
		left := deadline.Sub(now)
		left -= min(time.Second, left/10)
		d = min(d, left)
	}
	return now.Add(max(d, time.Millisecond))
}

// Close closes the Kafka client. Call it once the handler is no longer used (on SIGTERM
// in Lambda). No transaction is open between invocations, so nothing is left to flush.
func (h *Handler) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	h.drop()
}

// kgoLogger passes franz-go's warnings and errors (connection failures, refused
// batches) to slog.
type kgoLogger struct{ l *slog.Logger }

func (kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lvl := slog.LevelInfo
	switch level {
	case kgo.LogLevelError:
		lvl = slog.LevelError
	case kgo.LogLevelWarn:
		lvl = slog.LevelWarn
	case kgo.LogLevelDebug:
		lvl = slog.LevelDebug
	}
	k.l.Log(context.Background(), lvl, "kafka: "+msg, keyvals...)
}
