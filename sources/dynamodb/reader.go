package dynamodb

import (
	"context"
	"encoding/json"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/internal/backoff"
	"github.com/streamhub/streamhub/state"
	"github.com/streamhub/streamhub/topology"
)

// Record headers naming where a CDC record came from.
const (
	HeaderTable    = "streamhub.table"
	HeaderStream   = "streamhub.stream"
	HeaderShard    = "streamhub.shard"
	HeaderSequence = "streamhub.sequence"
	HeaderSource   = "streamhub.source"
	// DLQ headers, the same names the processors use.
	HeaderDLQReason = "streamhub.dlq.reason"
	HeaderDLQError  = "streamhub.dlq.error"
	HeaderDLQTable  = "streamhub.dlq.table"
)

// maxRecords is GetRecords' limit per call.
const maxRecords = 1000

// startAt is where a reader starts a shard.
type startAt struct {
	typ types.ShardIteratorType
	seq string
	// skip: a closed shard under start LATEST; it is marked read without reading.
	skip bool
}

// startPosition decides where shard sh starts, or reports false while its parent is
// still being read (the child must wait, or per-item order breaks).
func (b *Bridge) startPosition(st *stream, sh shard, cp Checkpoint, has bool, byID map[string]shard) (startAt, bool) {
	parentRead := false
	if sh.Parent != "" {
		pcp, ok := b.view.get(st.arn, sh.Parent)
		_, listed := byID[sh.Parent]
		if listed && !(ok && pcp.Ended) {
			return startAt{}, false
		}
		// A parent no longer listed was trimmed away: nothing of it is left to wait for.
		parentRead = ok && !pcp.Skipped
	}
	switch {
	case has && cp.Sequence != "":
		return startAt{typ: types.ShardIteratorTypeAfterSequenceNumber, seq: cp.Sequence}, true
	case has:
		// Nothing written yet (a shard started at LATEST, or a fresh checkpoint): read from
		// the horizon; the reader drops what is older than LatestAt.
		return startAt{typ: types.ShardIteratorTypeTrimHorizon}, true
	case parentRead || st.src.Start == topology.StartTrimHorizon || st.followsRead(b.view):
		// A child of a shard the bridge read continues where its parent ended; a table's
		// new stream continues where its old one ended, whatever the source's start.
		return startAt{typ: types.ShardIteratorTypeTrimHorizon}, true
	case sh.Closed:
		return startAt{skip: true}, true
	default:
		return startAt{typ: types.ShardIteratorTypeLatest}, true
	}
}

// reader copies one shard into Kafka.
type reader struct {
	b   *Bridge
	l   *lease
	st  *stream
	sh  shard
	cp  Checkpoint // what Kafka holds: updated only after a commit
	at  startAt
	bo  backoff.Backoff
	age interface{ Set(float64) }
	// headers the reader's records share: table, stream, shard and source do not
	// change per record, so they are built once (kgo never writes to them).
	table, stream, shardID, source []byte
}

func newReader(l *lease, st *stream, sh shard, cp Checkpoint, at startAt) *reader {
	b := l.b
	return &reader{
		b: b, l: l, st: st, sh: sh, cp: cp, at: at,
		bo:    backoff.New(50*time.Millisecond, b.cfg.Bridge.MaxBackoff),
		age:   b.m.iteratorAge.WithLabelValues(st.table.Name, sh.ID),
		table: []byte(st.table.Name), stream: []byte(st.arn), shardID: []byte(sh.ID), source: []byte("bridge"),
	}
}

// forget removes the shard's own series when the reader stops.
func (r *reader) forget() {
	r.b.m.iteratorAge.DeleteLabelValues(r.st.table.Name, r.sh.ID)
	r.b.m.shardRecords.DeleteLabelValues(r.st.table.Name, r.sh.ID)
}

// run reads the shard until it ends (true), ctx ends, or a commit fails (the error: the
// lease session starts over from the checkpoints). API errors are retried here.
func (r *reader) run(ctx context.Context) (bool, error) {
	log := r.l.log.With("table", r.st.table.Name, "shard", r.sh.ID)
	if r.at.skip {
		cp := r.cp
		cp.Ended, cp.Skipped = true, true
		if err := r.l.commit(ctx, nil, cp); err != nil {
			return false, err
		}
		log.Info("closed shard skipped (start LATEST)")
		return true, nil
	}
	if r.at.typ == types.ShardIteratorTypeLatest {
		// LATEST means "from now": the time is committed before anything is read, and the
		// shard is read from TRIM_HORIZON dropping what is older. A LATEST iterator would
		// lose what arrives between this commit and its creation, and a restart would
		// start at a later LATEST.
		cp := r.cp
		now := time.Now().UTC()
		cp.LatestAt = &now
		if err := r.l.commit(ctx, nil, cp); err != nil {
			return false, err
		}
		r.cp = cp
		r.at = startAt{typ: types.ShardIteratorTypeTrimHorizon}
	}
	log.Debug("reading shard", "from", r.at.typ, "after", r.at.seq)
	iter, err := r.iterator(ctx, r.at)
	if err != nil {
		return false, err
	}
	poll := r.st.src.PollInterval
	idle := poll / 4
	for iter != "" {
		start := time.Now()
		out, err := r.st.api.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{
			ShardIterator: aws.String(iter), Limit: aws.Int32(maxRecords),
		})
		r.b.m.getRecords.WithLabelValues(r.st.table.Name).Observe(time.Since(start).Seconds())
		if err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			kind := errorKind(err)
			r.b.m.apiErrors.WithLabelValues(r.st.table.Name, "GetRecords", kind).Inc()
			switch kind {
			case kindExpired:
				log.Info("shard iterator expired; re-creating it from the checkpoint")
				iter, err = r.iterator(ctx, r.resume())
			case kindTrimmed:
				r.dataLoss(log, "trimmed", err)
				iter, err = r.iterator(ctx, startAt{typ: types.ShardIteratorTypeTrimHorizon})
			case kindNotFound:
				return r.gone(ctx, log, err)
			default:
				err = r.sleep(ctx, "GetRecords", log, err)
			}
			if err != nil {
				return false, err
			}
			continue
		}
		r.bo.Reset()
		next := deref(out.NextShardIterator)
		if len(out.Records) > 0 || next == "" {
			if err := r.write(ctx, out.Records, next == ""); err != nil {
				return false, err
			}
		}
		if next == "" {
			r.b.m.shardsFinished.WithLabelValues(r.st.table.Name).Inc()
			log.Info("shard read to its end", "records", r.cp.Records)
			return true, nil
		}
		iter = next
		// Adaptive polling: a full batch means more is waiting; an empty one means the
		// shard is quiet, so ask less often, up to poll_interval.
		var wait time.Duration
		switch {
		case len(out.Records) >= maxRecords:
			idle = poll / 4
		case len(out.Records) > 0:
			idle = poll / 4
			wait = idle
		default:
			r.age.Set(0)
			wait = idle
			idle = min(idle*2, poll)
		}
		if wait > 0 {
			select {
			case <-ctx.Done():
				return false, ctx.Err()
			case <-time.After(wait):
			}
		}
	}
	return false, nil
}

// resume is where to continue after the last commit.
func (r *reader) resume() startAt {
	if r.cp.Sequence != "" {
		return startAt{typ: types.ShardIteratorTypeAfterSequenceNumber, seq: r.cp.Sequence}
	}
	if r.cp.LatestAt != nil {
		return startAt{typ: types.ShardIteratorTypeTrimHorizon}
	}
	return r.at
}

// iterator gets a shard iterator, retrying API errors. Asking for a trimmed sequence
// number falls back to TRIM_HORIZON and counts the loss.
func (r *reader) iterator(ctx context.Context, at startAt) (string, error) {
	log := r.l.log.With("table", r.st.table.Name, "shard", r.sh.ID)
	for {
		in := &dynamodbstreams.GetShardIteratorInput{
			StreamArn: aws.String(r.st.arn), ShardId: aws.String(r.sh.ID), ShardIteratorType: at.typ,
		}
		if at.seq != "" {
			in.SequenceNumber = aws.String(at.seq)
		}
		out, err := r.st.api.GetShardIterator(ctx, in)
		if err == nil {
			r.bo.Reset()
			if out.ShardIterator == nil {
				return "", nil // a closed shard with nothing after the position
			}
			return *out.ShardIterator, nil
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		kind := errorKind(err)
		r.b.m.apiErrors.WithLabelValues(r.st.table.Name, "GetShardIterator", kind).Inc()
		switch kind {
		case kindTrimmed:
			r.dataLoss(log, "trimmed", err)
			at = startAt{typ: types.ShardIteratorTypeTrimHorizon}
		case kindNotFound:
			return "", nil
		default:
			if err := r.sleep(ctx, "GetShardIterator", log, err); err != nil {
				return "", err
			}
		}
	}
}

func (r *reader) sleep(ctx context.Context, op string, log interface {
	Warn(string, ...any)
}, err error) error {
	r.b.m.retries.WithLabelValues(r.st.table.Name, op).Inc()
	wait := r.bo.Next()
	if k := errorKind(err); k != kindThrottle {
		log.Warn(op+" failed; backing off", "error", err, "kind", k, "retry_in", wait.Round(time.Millisecond))
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(wait):
		return nil
	}
}

// dataLoss records that the stream dropped records before the bridge read them.
func (r *reader) dataLoss(log interface{ Error(string, ...any) }, reason string, err error) {
	r.b.m.dataLoss.WithLabelValues(r.st.table.Name, reason).Inc()
	r.cp.DataLoss++
	log.Error("DATA LOSS: the stream no longer holds records the bridge had not read; continuing at TRIM_HORIZON",
		"reason", reason, "after_sequence", r.cp.Sequence, "error", err)
}

// gone handles a shard the stream no longer knows: it is marked ended so its children
// can start; if it was not read to its end, that is data loss.
func (r *reader) gone(ctx context.Context, log interface{ Error(string, ...any) }, err error) (bool, error) {
	r.dataLoss(log, "shard_gone", err)
	cp := r.cp
	cp.Ended = true
	if err := r.l.commit(ctx, nil, cp); err != nil {
		return false, err
	}
	r.cp = cp
	return true, nil
}

// write commits one GetRecords batch and the shard's checkpoint in one transaction.
func (r *reader) write(ctx context.Context, recs []types.Record, ended bool) error {
	t := r.st.table
	krs := make([]*kgo.Record, 0, len(recs))
	cp := r.cp
	var bytes int
	var newest time.Time
	var dropBefore time.Time
	if cp.LatestAt != nil && cp.Records == 0 {
		// Started at LATEST and nothing written yet: skip the shard's history. DynamoDB
		// rounds creation times down to the second, so the second before is kept too.
		dropBefore = cp.LatestAt.Truncate(time.Second).Add(-time.Second)
	}
	for i := range recs {
		rec := &recs[i]
		var seq string
		var created time.Time
		if d := rec.Dynamodb; d != nil {
			seq = deref(d.SequenceNumber)
			if d.ApproximateCreationDateTime != nil {
				created = *d.ApproximateCreationDateTime
			}
		}
		if seq != "" {
			cp.Sequence = seq
		}
		if created.After(newest) {
			newest = created
		}
		if !dropBefore.IsZero() {
			if !created.IsZero() && created.Before(dropBefore) {
				continue
			}
			dropBefore = time.Time{} // the present is reached; all that follows is newer
		}
		kr, reason, err := r.kafkaRecord(rec, seq)
		if err != nil {
			r.b.m.dlq.WithLabelValues(t.Name, reason).Inc()
			r.l.log.Error("stream record cannot be written to the CDC topic; sent to the DLQ",
				"table", t.Name, "shard", r.sh.ID, "sequence", seq, "reason", reason, "error", err)
		}
		bytes += len(kr.Value)
		krs = append(krs, kr)
	}
	cp.Records += int64(len(krs))
	cp.Ended = ended
	if err := r.l.commit(ctx, krs, cp); err != nil {
		return err
	}
	r.cp = cp
	r.b.m.records.WithLabelValues(t.Name).Add(float64(len(krs)))
	r.b.m.shardRecords.WithLabelValues(t.Name, r.sh.ID).Add(float64(len(krs)))
	r.b.m.bytes.WithLabelValues(t.Name).Add(float64(bytes))
	r.b.m.checkpoints.WithLabelValues(t.Name).Inc()
	r.b.written.Add(int64(len(krs)))
	if !newest.IsZero() {
		r.age.Set(max(0, time.Since(newest).Seconds()))
	}
	return nil
}

// kafkaRecord is the CDC topic record for one stream record: key = item key, value =
// the record as Lambda receives it. A record that cannot be keyed or encoded becomes a
// DLQ record (returned with the reason and error) so that the shard keeps flowing.
func (r *reader) kafkaRecord(rec *types.Record, seq string) (*kgo.Record, string, error) {
	t := r.st.table
	headers := []kgo.RecordHeader{
		{Key: HeaderTable, Value: r.table},
		{Key: HeaderStream, Value: r.stream},
		{Key: HeaderShard, Value: r.shardID},
		{Key: HeaderSequence, Value: []byte(seq)},
		{Key: HeaderSource, Value: r.source},
	}
	sr, err := toRecord(*rec, r.st.arn)
	var key string
	var value []byte
	if err == nil {
		if value, err = sr.Marshal(); err == nil {
			key, err = state.EncodeKey(sr.DynamoDB.Keys, t.Keys)
		}
	}
	// The reason words are state's, as the processors and the Lambda handler use them.
	reason := state.ReasonOf(err)
	if reason == "" {
		reason = "invalid"
	}
	if err == nil {
		return &kgo.Record{Topic: t.Topic, Key: []byte(key), Value: value, Headers: headers}, "", nil
	}
	if value == nil {
		value, _ = json.Marshal(map[string]string{
			"eventID": deref(rec.EventID), "eventName": string(rec.EventName), "eventSourceARN": r.st.arn,
			"SequenceNumber": seq, "error": err.Error(),
		})
	}
	headers = append(headers,
		kgo.RecordHeader{Key: HeaderDLQReason, Value: []byte(reason)},
		kgo.RecordHeader{Key: HeaderDLQError, Value: []byte(err.Error())},
		kgo.RecordHeader{Key: HeaderDLQTable, Value: r.table},
	)
	return &kgo.Record{
		Topic: r.b.cfg.Processor.DLQTopic, Key: []byte(r.sh.ID + "|" + seq), Value: value, Headers: headers,
	}, reason, err
}
