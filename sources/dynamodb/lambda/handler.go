package lambda

import (
	"context"
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
// its Kafka client and connections. Handle is safe for concurrent use.
type Handler struct {
	cfg       Config
	client    *kgo.Client
	log       *slog.Logger
	closeOnce sync.Once
}

// errNotAcked marks a record whose acknowledgement had not arrived when the invocation
// stopped waiting.
var errNotAcked = errors.New("not acknowledged by Kafka in time")

// NewHandler creates the handler and its franz-go client from kafka.ClientOpts (seed
// brokers, TLS, SASL, idempotent producer with acks=all, murmur2 partitioning,
// compression), with records timing out after cfg.Timeout; opts are applied after those.
// The client connects on first use, so a broker that is down fails invocations (which
// Lambda retries), not the function's start.
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
	kopts = append(kopts,
		kgo.RecordDeliveryTimeout(cfg.Timeout),
		kgo.WithLogger(kgoLogger{cfg.Logger}),
	)
	cl, err := kgo.NewClient(append(kopts, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("streamhub-lambda: new Kafka client: %w", err)
	}
	return &Handler{cfg: cfg, client: cl, log: cfg.Logger}, nil
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

// Handle writes the records of one ESM event ({"Records":[…]}) to Kafka and reports the
// ones Kafka did not acknowledge as batch item failures (ItemIdentifier = the record's
// SequenceNumber). Lambda resumes from the lowest reported sequence number, so every
// record from the first failure in event order on is reported: an item's changes are
// re-sent in order. Records are kept as raw bytes (events.DynamoDBEventRecord would lose
// the exact text of numbers) and written as Normalize makes them.
//
// A record that cannot be parsed or keyed goes to the DLQ topic when there is one; without
// one it is a failure like a record Kafka refused. An event that is not a stream event at
// all returns an error, and Lambda retries the whole batch.
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
	waitCtx, cancel := h.waitContext(ctx)
	defer cancel()
	a := &acks{errs: make([]error, stop), done: make([]bool, stop)}
	var wg sync.WaitGroup
	wg.Add(stop)
	for i := range stop {
		h.client.Produce(waitCtx, items[i].kr, func(_ *kgo.Record, err error) {
			a.set(i, err)
			wg.Done()
		})
	}
	// Flush sends what lingers now; the promises say what became of each record.
	_ = h.client.Flush(waitCtx)
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	select {
	case <-all:
	case <-waitCtx.Done():
	}

	first, firstErr := stop, error(nil)
	written, dlq := 0, 0
	for i := range stop {
		if err := a.result(i); err != nil {
			first, firstErr = i, err
			break
		}
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
	if items[first].seq == "" {
		// A failure Lambda cannot be pointed at: fail the invocation, and Lambda retries
		// the whole batch.
		return events.DynamoDBEventResponse{}, fmt.Errorf(
			"streamhub-lambda: record %d of %d failed and has no dynamodb.SequenceNumber to report: %v",
			first+1, n, describe(items[first], firstErr))
	}
	for i := first; i < n; i++ {
		if s := items[i].seq; s != "" {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: s})
		}
	}
	h.log.Warn("batch not fully written: reporting the first failed record and all after it for retry",
		"records", n, "written", written, "dlq", dlq, "reported", len(resp.BatchItemFailures),
		"first_failed_sequence", items[first].seq, "error", describe(items[first], firstErr),
		"took_ms", time.Since(start).Milliseconds())
	return resp, nil
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

// Close waits up to the produce timeout for buffered records and closes the Kafka
// client. Call it once the handler is no longer used (on SIGTERM in Lambda).
func (h *Handler) Close() {
	h.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), h.cfg.Timeout)
		defer cancel()
		if err := h.client.Flush(ctx); err != nil {
			h.log.Warn("closing with records not acknowledged", "error", err)
		}
		h.client.Close()
	})
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
