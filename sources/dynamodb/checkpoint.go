package dynamodb

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/kafka"
)

// Checkpoint is how far a shard has been copied into Kafka. It is written in the same
// Kafka transaction as the shard's records, so it never claims a record that is not in
// the topic, and no record is in the topic that it does not claim.
type Checkpoint struct {
	Stream string `json:"stream"`
	Shard  string `json:"shard"`
	Parent string `json:"parent,omitempty"`
	// Sequence is the last sequence number written to Kafka; "" while none is.
	Sequence string `json:"sequence,omitempty"`
	// Ended: the shard is closed and every record of it is in Kafka. Its children may start.
	Ended bool `json:"ended,omitempty"`
	// Skipped: the shard was closed before the bridge first saw it and the source starts
	// at LATEST, so none of it was read; its children start at LATEST too.
	Skipped bool `json:"skipped,omitempty"`
	// LatestAt is when a shard without a checkpoint started at LATEST: the shard is read
	// from TRIM_HORIZON and records created before it are dropped until the first one
	// that is not, also after a restart, so nothing after it is ever lost.
	LatestAt *time.Time `json:"latest_at,omitempty"`
	// Records is how many records of the shard are in Kafka.
	Records int64 `json:"records"`
	// DataLoss counts records the stream trimmed before they could be read.
	DataLoss  int       `json:"data_loss,omitempty"`
	Owner     string    `json:"owner"`
	UpdatedAt time.Time `json:"updated_at"`
}

// leaseMarker is the record a new owner of a lease commits first: initialising its
// transactional producer fences the previous owner (and aborts its open transaction),
// and once the marker is visible every checkpoint committed before it is too.
type leaseMarker struct {
	Lease int32     `json:"lease"`
	Owner string    `json:"owner"`
	At    time.Time `json:"at"`
}

func checkpointKey(stream, shard string) string { return stream + "|" + shard }

func markerKey(lease int32) string { return fmt.Sprintf("lease|%d", lease) }

// leaseOf maps a shard to the checkpoint partition (the lease) that owns it.
func leaseOf(stream, shard string, leases int) int32 {
	return kafka.Partition([]byte(checkpointKey(stream, shard)), int32(leases))
}

// checkpointView tails every partition of the checkpoint topic (read_committed), so any
// instance knows every shard's progress: a child shard waits for its parent's Ended
// checkpoint even when another instance read the parent.
type checkpointView struct {
	log *slog.Logger

	mu      sync.Mutex
	cps     map[string]Checkpoint
	seen    map[int32]int64 // highest offset read per partition
	updated *signal
}

func newCheckpointView(log *slog.Logger) *checkpointView {
	return &checkpointView{log: log, cps: map[string]Checkpoint{}, seen: map[int32]int64{}, updated: newSignal()}
}

// run reads the topic until ctx ends. cl consumes the whole topic from the start.
func (v *checkpointView) run(ctx context.Context, cl *kgo.Client) {
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		fs.EachError(func(t string, p int32, err error) {
			v.log.Warn("reading checkpoints", "topic", t, "partition", p, "error", err)
		})
		v.mu.Lock()
		fs.EachRecord(func(r *kgo.Record) {
			if cur, ok := v.seen[r.Partition]; !ok || r.Offset > cur {
				v.seen[r.Partition] = r.Offset
			}
			if len(r.Key) > 5 && string(r.Key[:5]) == "lease" {
				return
			}
			if r.Value == nil {
				delete(v.cps, string(r.Key))
				return
			}
			var cp Checkpoint
			if err := json.Unmarshal(r.Value, &cp); err != nil {
				v.log.Error("unreadable checkpoint; ignoring it", "key", string(r.Key), "error", err)
				return
			}
			v.cps[string(r.Key)] = cp
		})
		v.mu.Unlock()
		v.updated.fire()
	}
}

func (v *checkpointView) get(stream, shard string) (Checkpoint, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	cp, ok := v.cps[checkpointKey(stream, shard)]
	return cp, ok
}

// all returns every checkpoint, for status and tests.
func (v *checkpointView) all() []Checkpoint {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]Checkpoint, 0, len(v.cps))
	for _, cp := range v.cps {
		out = append(out, cp)
	}
	return out
}

// changed is closed at the next update.
func (v *checkpointView) changed() <-chan struct{} { return v.updated.wait() }

// waitFor returns once the record at offset off of partition p has been read.
func (v *checkpointView) waitFor(ctx context.Context, p int32, off int64) error {
	for {
		ch := v.updated.wait()
		v.mu.Lock()
		seen, ok := v.seen[p]
		v.mu.Unlock()
		if ok && seen >= off {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}
