package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/streamhub/streamhub/internal/backoff"
	"github.com/streamhub/streamhub/topology"
)

// shard is what the bridge needs to know of one shard from DescribeStream.
type shard struct {
	ID, Parent string
	// Closed: the shard has an EndingSequenceNumber; DynamoDB writes no more to it.
	Closed bool
}

// stream is one DynamoDB stream a source reads, with its shard list kept current by
// discover.
type stream struct {
	src   topology.Source
	table topology.Table
	arn   string
	api   StreamsAPI
	log   *slog.Logger
	// tables finds the table's latest stream; nil when the source names its stream_arn,
	// which then is the only stream the source ever reads.
	tables TablesAPI
	// prev is the stream this one replaced (the table was deleted and created again, or
	// its stream disabled and enabled): its records are older than all of this one's,
	// so none of this stream is read before prev is read to its end.
	prev *stream

	mu     sync.Mutex
	shards []shard // DescribeStream order: parents before children
	byID   map[string]shard
	// described: DescribeStream answered at least once, so an empty list means empty.
	described bool
	// replaced: the table has a newer stream; this one gets no new shards.
	replaced bool
	// gone: DescribeStream no longer knows this replaced stream (past its 24 hours).
	gone bool
	// changed fires when the shard list changes; the bridge shares one among streams.
	changed *signal
	// wake asks discover to describe the stream now (a shard ended: children likely).
	wake chan struct{}
}

// resolveStreamARN returns the source's stream: the configured ARN, or the latest stream
// of the DynamoDB table named like the source's table.
func resolveStreamARN(ctx context.Context, src topology.Source, tables TablesAPI) (string, error) {
	if src.StreamARN != "" {
		return src.StreamARN, nil
	}
	out, err := tables.DescribeTable(ctx, &ddb.DescribeTableInput{TableName: aws.String(src.Table)})
	if err != nil {
		return "", fmt.Errorf("describe table %q to find its stream (or set stream_arn): %w", src.Table, err)
	}
	if out.Table == nil || out.Table.LatestStreamArn == nil || *out.Table.LatestStreamArn == "" {
		return "", fmt.Errorf("table %q has no stream: enable DynamoDB Streams on it (NEW_AND_OLD_IMAGES)", src.Table)
	}
	return *out.Table.LatestStreamArn, nil
}

func (s *stream) snapshot() ([]shard, map[string]shard) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shards, s.byID
}

// describe reads every page of DescribeStream and publishes the shard list.
func (s *stream) describe(ctx context.Context) error {
	var all []shard
	var start *string
	for {
		out, err := s.api.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{
			StreamArn: aws.String(s.arn), ExclusiveStartShardId: start,
		})
		if err != nil {
			return err
		}
		d := out.StreamDescription
		if d == nil {
			return errors.New("DescribeStream returned no StreamDescription")
		}
		for _, sh := range d.Shards {
			all = append(all, toShard(sh))
		}
		if d.LastEvaluatedShardId == nil || *d.LastEvaluatedShardId == "" {
			break
		}
		start = d.LastEvaluatedShardId
	}
	byID := make(map[string]shard, len(all))
	for _, sh := range all {
		byID[sh.ID] = sh
	}
	s.mu.Lock()
	changed := len(all) != len(s.shards)
	if !changed {
		for i := range all {
			if all[i] != s.shards[i] {
				changed = true
				break
			}
		}
	}
	s.shards, s.byID, s.described = all, byID, true
	s.mu.Unlock()
	if changed {
		s.changed.fire()
	}
	return nil
}

func toShard(sh types.Shard) shard {
	out := shard{ID: deref(sh.ShardId), Parent: deref(sh.ParentShardId)}
	if r := sh.SequenceNumberRange; r != nil && r.EndingSequenceNumber != nil {
		out.Closed = true
	}
	return out
}

// read reports whether every record of the stream is in Kafka as far as the bridge can
// tell: a replaced stream whose shards are all closed and read to their end, or one the
// stream API no longer knows.
func (s *stream) read(view *checkpointView) bool {
	s.mu.Lock()
	shards, described, replaced, gone := s.shards, s.described, s.replaced, s.gone
	s.mu.Unlock()
	if gone {
		return true
	}
	if !described || !replaced {
		return false
	}
	for _, sh := range shards {
		if !sh.Closed {
			return false
		}
		if cp, ok := view.get(s.arn, sh.ID); !ok || !cp.Ended {
			return false
		}
	}
	return true
}

// followsRead reports whether the bridge read any of the streams this one replaced: then
// the table's history is wanted from there on, and this stream starts at TRIM_HORIZON.
// Streams it replaced that were skipped (start: LATEST, found closed) leave the
// source's start in force.
func (s *stream) followsRead(view *checkpointView) bool {
	if s.prev == nil {
		return false
	}
	for _, cp := range view.all() {
		for p := s.prev; p != nil; p = p.prev {
			if cp.Stream == p.arn && !cp.Skipped {
				return true
			}
		}
	}
	return false
}

// predecessorsRead reports whether every stream the table had before this one is read.
func (s *stream) predecessorsRead(view *checkpointView) bool {
	for p := s.prev; p != nil; p = p.prev {
		if !p.read(view) {
			return false
		}
	}
	return true
}

// finished: a replaced stream whose every shard is closed gets no new shard, so
// describing it again tells nothing new.
func (s *stream) finished() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gone {
		return true
	}
	if !s.replaced || !s.described {
		return false
	}
	for _, sh := range s.shards {
		if !sh.Closed {
			return false
		}
	}
	return true
}

// discover describes the stream every interval (and when woken) until ctx ends, or
// until a replaced stream is finished or gone.
func (s *stream) discover(ctx context.Context, every time.Duration, bo backoff.Backoff, m *metrics) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
		wait := every
		if err := s.describe(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			kind := errorKind(err)
			m.apiErrors.WithLabelValues(s.table.Name, "DescribeStream", kind).Inc()
			s.mu.Lock()
			replaced := s.replaced
			if replaced && kind == kindNotFound {
				s.gone = true
			}
			s.mu.Unlock()
			if replaced && kind == kindNotFound {
				// Its shards' readers find the same and count what they had not read.
				s.log.Warn("the replaced stream is gone", "stream", s.arn)
				s.changed.fire()
				return
			}
			s.log.Warn("describe stream failed; retrying", "stream", s.arn, "error", err)
			wait = bo.Next()
		} else {
			bo.Reset()
			shards, _ := s.snapshot()
			open := 0
			for _, sh := range shards {
				if !sh.Closed {
					open++
				}
			}
			m.shards.WithLabelValues(s.table.Name, "open").Set(float64(open))
			m.shards.WithLabelValues(s.table.Name, "closed").Set(float64(len(shards) - open))
			if s.finished() {
				s.changed.fire()
				return
			}
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(wait)
	}
}

// poke asks discover to describe the stream soon.
func (s *stream) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// streamLabel is the label an ARN of a table's stream ends with: the stream's creation
// time, "2015-05-11T21:21:33.291", so labels sort in creation order.
func streamLabel(arn string) string {
	if i := strings.LastIndex(arn, "/stream/"); i >= 0 {
		return arn[i+len("/stream/"):]
	}
	return arn
}

// streamLister is the Streams client's ListStreams (*dynamodbstreams.Client has it).
type streamLister interface {
	ListStreams(context.Context, *dynamodbstreams.ListStreamsInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.ListStreamsOutput, error)
}

// olderStreams lists the table's streams created before current, oldest first: DynamoDB
// keeps a replaced stream readable for 24 hours, and one the bridge had not read to its
// end when it stopped (the table re-created while it was down) still holds records.
// ok is false when the client cannot list streams.
func olderStreams(ctx context.Context, api StreamsAPI, table, current string) (arns []string, ok bool, err error) {
	ls, ok := api.(streamLister)
	if !ok {
		return nil, false, nil
	}
	in := &dynamodbstreams.ListStreamsInput{TableName: aws.String(table)}
	for {
		out, err := ls.ListStreams(ctx, in)
		if err != nil {
			return nil, true, err
		}
		for _, st := range out.Streams {
			arn := deref(st.StreamArn)
			if arn != "" && arn != current && streamLabel(arn) < streamLabel(current) {
				arns = append(arns, arn)
			}
		}
		if out.LastEvaluatedStreamArn == nil || *out.LastEvaluatedStreamArn == "" {
			break
		}
		in.ExclusiveStartStreamArn = out.LastEvaluatedStreamArn
	}
	slices.SortFunc(arns, func(a, b string) int { return strings.Compare(streamLabel(a), streamLabel(b)) })
	return arns, true, nil
}

// latestStreamARN is the table's LatestStreamArn; "" while the table has none (deleted,
// or streams disabled).
func latestStreamARN(ctx context.Context, tables TablesAPI, table string) (string, error) {
	out, err := tables.DescribeTable(ctx, &ddb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		var nf *ddbtypes.ResourceNotFoundException
		if errors.As(err, &nf) {
			return "", nil
		}
		return "", err
	}
	if out.Table == nil || out.Table.LatestStreamArn == nil {
		return "", nil
	}
	return *out.Table.LatestStreamArn, nil
}

// watchTable asks DynamoDB for the table's latest stream every discovery interval. A
// new one (the table deleted and created again under its name, or its stream disabled
// and enabled) is read from TRIM_HORIZON after the old one is read to its end: the old
// stream stays readable for 24 hours, its shards closed.
func (b *Bridge) watchTable(ctx context.Context, cur *stream, start func(*stream)) {
	t := time.NewTicker(b.cfg.Bridge.DiscoveryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		arn, err := latestStreamARN(ctx, cur.tables, cur.src.Table)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			b.m.apiErrors.WithLabelValues(cur.table.Name, "DescribeTable", errorKind(err)).Inc()
			cur.log.Warn("describe table failed; the stream is still watched", "error", err)
			continue
		}
		if arn == "" || arn == cur.arn {
			continue
		}
		next := &stream{
			src: cur.src, table: cur.table, arn: arn, api: cur.api, tables: cur.tables, prev: cur,
			log: cur.log, byID: map[string]shard{}, changed: b.shardsChanged, wake: make(chan struct{}, 1),
		}
		cur.mu.Lock()
		cur.replaced = true
		cur.mu.Unlock()
		b.m.streamChanges.WithLabelValues(cur.table.Name).Inc()
		cur.log.Warn("the table has a new stream (deleted and created again, or its stream disabled and enabled): "+
			"it is read from TRIM_HORIZON once the old one is read to its end; items the new table does not write again keep their old state",
			"old_stream", cur.arn, "new_stream", arn)
		b.addStream(next)
		start(next)
		cur.poke()
		cur = next
	}
}
