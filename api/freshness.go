package api

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
)

// freshness tracks how far each partition of a view is behind its table topic: the next
// offset the view will apply (from its update callback and the store's saved offset)
// against the topic's end offset (polled from the brokers).
type freshness struct {
	topic string
	mu    sync.RWMutex
	next  map[int32]*atomic.Int64
	end   map[int32]int64
}

func newFreshness(topic string) *freshness {
	return &freshness{topic: topic, next: map[int32]*atomic.Int64{}, end: map[int32]int64{}}
}

func (f *freshness) slot(p int32) *atomic.Int64 {
	f.mu.RLock()
	s := f.next[p]
	f.mu.RUnlock()
	if s != nil {
		return s
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if s = f.next[p]; s == nil {
		s = new(atomic.Int64)
		f.next[p] = s
	}
	return s
}

// update is the view's update callback.
func (f *freshness) update(ctx goka.UpdateContext, s storage.Storage, key string, value []byte) error {
	if err := goka.DefaultUpdate(ctx, s, key, value); err != nil {
		return err
	}
	f.slot(ctx.Partition()).Store(ctx.Offset() + 1)
	return nil
}

// builder records, for each partition store the view opens, the offset it resumes from.
func (f *freshness) builder(b storage.Builder) storage.Builder {
	return func(topic string, partition int32) (storage.Storage, error) {
		s, err := b(topic, partition)
		if err != nil {
			return nil, err
		}
		if off, err := s.GetOffset(-1); err == nil && off >= 0 {
			f.slot(partition).Store(off + 1)
		}
		return s, nil
	}
}

// poll refreshes the end offsets, and the lag gauge, every interval until ctx ends.
func (f *freshness) poll(ctx context.Context, adm *kadm.Client, every time.Duration, gauge prometheus.Gauge) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		ends, err := adm.ListEndOffsets(ctx, f.topic)
		if err == nil {
			f.mu.Lock()
			ends.Each(func(o kadm.ListedOffset) {
				if o.Err == nil {
					f.end[o.Partition] = o.Offset
				}
			})
			f.mu.Unlock()
			gauge.Set(float64(f.lag(-1)))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// lag is the records partition p is behind; p < 0 sums every partition.
func (f *freshness) lag(p int32) int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var total int64
	for part, end := range f.end {
		if p >= 0 && part != p {
			continue
		}
		var next int64
		if s := f.next[part]; s != nil {
			next = s.Load()
		}
		if end > next {
			total += end - next
		}
	}
	return total
}
