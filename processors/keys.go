package processors

import (
	"sync"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamhub/streamhub/state"
)

// keyCounter counts live (not deleted) items per partition of a local store. A partition's
// count is taken by a scan when its store opens, then kept by the deltas of each update, and
// dropped when the store closes (the partition moved to another instance).
type keyCounter struct {
	gauge prometheus.Gauge
	mu    sync.Mutex
	parts map[int32]int64
}

func newKeyCounter(g prometheus.Gauge) *keyCounter {
	return &keyCounter{gauge: g, parts: map[int32]int64{}}
}

func (k *keyCounter) add(partition int32, delta int64) {
	if delta == 0 {
		return
	}
	k.mu.Lock()
	k.parts[partition] += delta
	k.mu.Unlock()
	k.gauge.Add(float64(delta))
}

func (k *keyCounter) set(partition int32, n int64) {
	k.mu.Lock()
	old := k.parts[partition]
	k.parts[partition] = n
	k.mu.Unlock()
	k.gauge.Add(float64(n - old))
}

func (k *keyCounter) drop(partition int32) {
	k.mu.Lock()
	old := k.parts[partition]
	delete(k.parts, partition)
	k.mu.Unlock()
	k.gauge.Sub(float64(old))
}

func (k *keyCounter) total() int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	var n int64
	for _, v := range k.parts {
		n += v
	}
	return n
}

// builder wraps a storage builder so each opened partition is counted once and forgotten
// when closed.
func (k *keyCounter) builder(b storage.Builder) storage.Builder {
	return func(topic string, partition int32) (storage.Storage, error) {
		s, err := b(topic, partition)
		if err != nil {
			return nil, err
		}
		n, err := countLive(s)
		if err != nil {
			s.Close()
			return nil, err
		}
		k.set(partition, n)
		return &countedStorage{Storage: s, onClose: func() { k.drop(partition) }}, nil
	}
}

// update is goka's update callback (processor recovery, views): it applies a table-topic
// record to the local store and keeps the count.
func (k *keyCounter) update(ctx goka.UpdateContext, s storage.Storage, key string, value []byte) error {
	old, err := s.Get(key)
	if err != nil {
		return err
	}
	if err := goka.DefaultUpdate(ctx, s, key, value); err != nil {
		return err
	}
	k.add(ctx.Partition(), liveDelta(isLive(old), isLive(value)))
	return nil
}

func isLive(encoded []byte) bool {
	if encoded == nil {
		return false
	}
	var v state.Value
	return v.UnmarshalBinary(encoded) == nil && !v.Deleted
}

func countLive(s storage.Storage) (int64, error) {
	it, err := s.Iterator()
	if err != nil {
		return 0, err
	}
	defer it.Release()
	var n int64
	for it.Next() {
		val, err := it.Value()
		if err != nil {
			return 0, err
		}
		if isLive(val) {
			n++
		}
	}
	return n, it.Err()
}

type countedStorage struct {
	storage.Storage
	once    sync.Once
	onClose func()
}

func (s *countedStorage) Close() error {
	s.once.Do(s.onClose)
	return s.Storage.Close()
}
