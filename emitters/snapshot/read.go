package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fetch tuning. A fetch asks each partition's leader for all of its pending partitions at
// once; the broker answers as soon as it has data (the table exists up to the end offsets,
// so it does) or after fetchMaxWait when a partition has nothing left below its end.
const (
	fetchMaxWait        = 100 * time.Millisecond
	fetchMaxBytes       = 64 << 20
	fetchPartitionBytes = 8 << 20
	// maxStalls bounds the rounds in a row in which no partition advanced (broker
	// errors, leader changes) before the snapshot gives up; with the backoff below this
	// is about half a minute.
	maxStalls    = 40
	backoffFirst = 50 * time.Millisecond
	backoffMax   = time.Second
)

// latest is the last record of one key seen in the table topic.
type latest struct {
	value     []byte // nil: the key was deleted (a record with a nil value)
	partition int32
	offset    int64
}

// partitionRange is the part of one partition a snapshot read: [Start, End).
type partitionRange struct {
	Partition int32 `json:"partition"`
	Start     int64 `json:"start"`
	End       int64 `json:"end"`
}

// tableState is the table topic read up to the snapshot's end offsets.
type tableState struct {
	values  map[string]latest
	ranges  []partitionRange
	records int64
	// spread counts keys met in more than one partition (the table topic was
	// repartitioned); the record of the highest partition wins.
	spread int
}

// readTable reads topic from the start of every partition to the last stable offsets
// listed when it starts, with read_committed semantics, and keeps the last record of
// every key.
//
// The end is the last stable offset (kadm ListCommittedOffsets), not the high watermark:
// under read_committed a fetch never returns data past the first open transaction, so
// waiting for the high watermark would wait for that transaction to end. A partition is
// done when the next offset to read reaches its end. The offsets just below the end may
// hold no record that a read_committed fetch returns (a transaction marker, an aborted
// batch, a batch emptied by compaction, or nothing at all after compaction): the fetch
// responses are processed with kgo.ProcessFetchPartition, which moves the next offset past
// markers, aborted and compacted batches, and a fetch that returns no batch at all while
// the partition's stable offset is at or past the end means nothing readable is left.
func readTable(ctx context.Context, cl *kgo.Client, topic string, log *slog.Logger) (*tableState, error) {
	adm := kadm.NewClient(cl) // not closed: that would close cl, the caller's
	md, err := topicMetadata(ctx, adm, topic)
	if err != nil {
		return nil, err
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list start offsets of %s: %w", topic, err)
	}
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list end offsets of %s: %w", topic, err)
	}

	ts := &tableState{values: map[string]latest{}}
	type cursor struct{ next, end int64 }
	pending := map[int32]*cursor{}
	for _, p := range md.Partitions.Numbers() {
		s, okS := starts.Lookup(topic, p)
		e, okE := ends.Lookup(topic, p)
		if !okS || !okE {
			return nil, fmt.Errorf("list offsets of %s: partition %d missing", topic, p)
		}
		ts.ranges = append(ts.ranges, partitionRange{Partition: p, Start: s.Offset, End: e.Offset})
		if s.Offset < e.Offset {
			pending[p] = &cursor{next: s.Offset, end: e.Offset}
		}
	}

	keep := func(r *kgo.Record) {
		ts.records++
		k := string(r.Key)
		if old, ok := ts.values[k]; ok && old.partition != r.Partition {
			ts.spread++
			if old.partition > r.Partition {
				return
			}
		}
		l := latest{partition: r.Partition, offset: r.Offset}
		if r.Value != nil {
			// A copy: the record's value points into the whole decompressed batch.
			l.value = bytes.Clone(r.Value) // non-nil even when empty
		}
		ts.values[k] = l
	}

	decompressor := kgo.DefaultDecompressor()
	stalls, backoff := 0, backoffFirst
	var lastErr error
	for len(pending) > 0 {
		progressed, refresh := false, false
		byLeader := map[int32][]int32{}
		for p := range pending {
			leader := int32(-1)
			if d, ok := md.Partitions[p]; ok && d.Err == nil {
				leader = d.Leader
			}
			if leader < 0 {
				refresh = true
				lastErr = fmt.Errorf("partition %d has no leader", p)
				continue
			}
			byLeader[leader] = append(byLeader[leader], p)
		}
		leaders := make([]int32, 0, len(byLeader))
		for l := range byLeader {
			leaders = append(leaders, l)
		}
		slices.Sort(leaders)
		for _, leader := range leaders {
			parts := byLeader[leader]
			slices.Sort(parts)
			req := kmsg.NewPtrFetchRequest()
			req.MaxWaitMillis = int32(fetchMaxWait / time.Millisecond)
			req.MinBytes = 1
			req.MaxBytes = fetchMaxBytes
			req.IsolationLevel = 1 // read_committed
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = topic
			rt.TopicID = md.ID // fetch v13+ names topics by ID
			for _, p := range parts {
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.Partition = p
				rp.FetchOffset = pending[p].next
				rp.PartitionMaxBytes = fetchPartitionBytes
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
			kresp, err := cl.Broker(int(leader)).RetriableRequest(ctx, req)
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				lastErr, refresh = fmt.Errorf("fetch from broker %d: %w", leader, err), true
				continue
			}
			resp := kresp.(*kmsg.FetchResponse)
			if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
				if !kerr.IsRetriable(err) {
					return nil, fmt.Errorf("fetch %s from broker %d: %w", topic, leader, err)
				}
				lastErr, refresh = err, true
				continue
			}
			for i := range resp.Topics {
				for j := range resp.Topics[i].Partitions {
					rp := &resp.Topics[i].Partitions[j]
					c := pending[rp.Partition]
					if c == nil {
						continue
					}
					fp, next := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{
						Offset:         c.next,
						IsolationLevel: kgo.ReadCommitted(),
						Topic:          topic,
						Partition:      rp.Partition,
					}, rp, decompressor, nil)
					if fp.Err != nil {
						switch {
						case errors.Is(fp.Err, kerr.OffsetOutOfRange):
							// The log start moved past us (retention, DeleteRecords):
							// what was before it is gone for every reader.
							s, err := startOffset(ctx, adm, topic, rp.Partition)
							if err != nil {
								lastErr, refresh = err, true
								continue
							}
							if s <= c.next {
								return nil, fmt.Errorf("fetch %s partition %d at offset %d: %w (log start %d)", topic, rp.Partition, c.next, fp.Err, s)
							}
							log.Warn("table topic log start moved during the snapshot", "topic", topic,
								"partition", rp.Partition, "from", c.next, "to", s)
							c.next, progressed = s, true
						case isRetriable(fp.Err):
							lastErr, refresh = fmt.Errorf("fetch %s partition %d: %w", topic, rp.Partition, fp.Err), true
							continue
						default:
							return nil, fmt.Errorf("fetch %s partition %d at offset %d: %w", topic, rp.Partition, c.next, fp.Err)
						}
					}
					for _, r := range fp.Records {
						if r.Offset >= c.end {
							break
						}
						keep(r)
					}
					switch {
					case next > c.next:
						c.next, progressed = next, true
					case fp.Err == nil && len(rp.RecordBatches) == 0 && stableEnd(rp) >= c.end:
						// Nothing readable between here and the stable end: the tail
						// of the partition was compacted away.
						c.next, progressed = c.end, true
					case fp.Err == nil:
						lastErr = fmt.Errorf("partition %d: no progress at offset %d (end %d, stable offset %d)",
							rp.Partition, c.next, c.end, stableEnd(rp))
					}
					if c.next >= c.end {
						delete(pending, rp.Partition)
					}
				}
			}
		}
		if len(pending) == 0 {
			break
		}
		if progressed {
			stalls, backoff = 0, backoffFirst
			continue
		}
		if stalls++; stalls > maxStalls {
			return nil, fmt.Errorf("read %s: no progress after %d attempts: %w", topic, stalls, lastErr)
		}
		if err := sleep(ctx, backoff); err != nil {
			return nil, err
		}
		backoff = min(2*backoff, backoffMax)
		if refresh {
			if m, err := topicMetadata(ctx, adm, topic); err == nil {
				md = m
			} else if ctx.Err() != nil {
				return nil, ctx.Err()
			} else {
				lastErr = err
			}
		}
	}
	for k, l := range ts.values {
		if l.value == nil {
			delete(ts.values, k)
		}
	}
	return ts, nil
}

// topicMetadata describes topic; a missing topic is an error.
func topicMetadata(ctx context.Context, adm *kadm.Client, topic string) (kadm.TopicDetail, error) {
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return kadm.TopicDetail{}, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	td, ok := md.Topics[topic]
	switch {
	case !ok:
		return td, fmt.Errorf("metadata of %s: topic not in the response", topic)
	case errors.Is(td.Err, kerr.UnknownTopicOrPartition):
		return td, fmt.Errorf("table topic %s does not exist: %w", topic, td.Err)
	case td.Err != nil:
		return td, fmt.Errorf("metadata of %s: %w", topic, td.Err)
	case len(td.Partitions) == 0:
		return td, fmt.Errorf("metadata of %s: no partitions", topic)
	}
	return td, nil
}

func startOffset(ctx context.Context, adm *kadm.Client, topic string, p int32) (int64, error) {
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return 0, err
	}
	s, ok := starts.Lookup(topic, p)
	if !ok {
		return 0, fmt.Errorf("list start offsets of %s: partition %d missing", topic, p)
	}
	return s.Offset, s.Err
}

// stableEnd is the offset up to which a read_committed fetch of the partition returns
// data: the last stable offset, or the high watermark from brokers that send none.
func stableEnd(rp *kmsg.FetchResponseTopicPartition) int64 {
	if rp.LastStableOffset >= 0 {
		return rp.LastStableOffset
	}
	return rp.HighWatermark
}

// isRetriable reports fetch errors that a metadata refresh and another try can cure.
func isRetriable(err error) bool {
	switch {
	case kerr.IsRetriable(err),
		errors.Is(err, kerr.NotLeaderForPartition),
		errors.Is(err, kerr.FencedLeaderEpoch),
		errors.Is(err, kerr.UnknownLeaderEpoch),
		errors.Is(err, kerr.UnknownTopicOrPartition),
		errors.Is(err, kerr.UnknownTopicID),
		errors.Is(err, kerr.InconsistentTopicID),
		errors.Is(err, kerr.ReplicaNotAvailable),
		errors.Is(err, kerr.LeaderNotAvailable),
		errors.Is(err, kerr.OffsetNotAvailable):
		return true
	}
	return false
}
