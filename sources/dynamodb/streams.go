package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
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
	src    topology.Source
	table  topology.Table
	arn    string
	api    StreamsAPI
	log    *slog.Logger
	region string

	mu     sync.Mutex
	shards []shard // DescribeStream order: parents before children
	byID   map[string]shard
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
	s.shards, s.byID = all, byID
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

// discover describes the stream every interval (and when woken) until ctx ends.
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
			m.apiErrors.WithLabelValues(s.table.Name, "DescribeStream", errorKind(err)).Inc()
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
