package processors

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lovoo/goka/storage"
	"github.com/syndtr/goleveldb/leveldb"
	lerrors "github.com/syndtr/goleveldb/leveldb/errors"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/iterator"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// offsetKey is where goka's own leveldb storage keeps the table offset; streamhub uses the
// same key so a store written by either can be read by the other.
const offsetKey = "__offset"

// Write-back tuning: a partition store collects writes in memory and hands them to leveldb
// as one batch. goka's own storage does one leveldb write — one write(2) to the journal — per
// Set and another per SetOffset, which profiling showed to be the processor's largest cost.
// A wide window also folds repeated writes of one item into one leveldb entry, and a
// leveldb entry is dear (a memdb skiplist insert, the journal, then an SST write: ≈12% of the
// processor's CPU at a 1 s window in `bench processor`). flushEntries counts distinct dirty
// items, so it bounds the cache's unflushed memory (≈32768 values per partition); the
// interval only decides how often an item written again and again reaches leveldb. 32768 /
// 1s cut the CPU per event by ≈10% against 4096 / 200ms; 5s cut it by another ≈6–8%. The
// price is a longer table-topic replay after a crash: at most 5 s of this partition's
// writes, read back in well under a second.
const (
	flushEntries  = 32768
	flushInterval = 5 * time.Second
)

// StorageBuilder returns goleveldb storage under dir, tuned for a write-heavy latest-state
// table, or in-memory storage when dir is "". A store that leveldb reports corrupt is
// deleted and rebuilt from the table topic, which is its changelog.
func StorageBuilder(dir string, log *slog.Logger) storage.Builder {
	if dir == "" {
		return storage.MemoryBuilder()
	}
	return func(topic string, partition int32) (storage.Storage, error) {
		path := filepath.Join(dir, fmt.Sprintf("%s.%d", topic, partition))
		db, err := leveldb.OpenFile(path, leveldbOptions())
		if lerrors.IsCorrupted(err) {
			log.Warn("local store is corrupt; rebuilding it from the table topic", "path", path, "error", err)
			if err := os.RemoveAll(path); err != nil {
				return nil, fmt.Errorf("remove corrupt store %s: %w", path, err)
			}
			db, err = leveldb.OpenFile(path, leveldbOptions())
		}
		if err != nil {
			return nil, fmt.Errorf("open local store %s: %w", path, err)
		}
		return newBatchedStore(db)
	}
}

// leveldbOptions trade durability of the local store for speed: the store is a cache of the
// compacted table topic and is rebuilt from it, so fsync buys nothing. Larger write buffers
// and tables cut compaction work on a stream of updates; the bloom filter makes the
// per-record Get of an absent key cheap.
func leveldbOptions() *opt.Options {
	return &opt.Options{
		NoSync:              true,
		WriteBuffer:         32 << 20,
		BlockCacheCapacity:  64 << 20,
		CompactionTableSize: 8 << 20,
		Filter:              filter.NewBloomFilter(10),
	}
}

// batchedStore is a goka storage over leveldb with a write-back cache. Writes land in the
// cache and are flushed, with the table offset, as one atomic leveldb batch; reads are
// answered from the cache when they can. A crash loses at most the unflushed tail, and the
// offset stored with it says where table-topic recovery must resume, so the store is always
// a prefix of the table topic plus what recovery replays.
//
// Profiling the processor showed leveldb's Get (a skiplist walk comparing long, shared-prefix
// keys) and its one journal write(2) per Set and per SetOffset as the largest costs; the
// cache turns the Get of a recently seen item into a map lookup and the batch turns
// thousands of writes into one.
type batchedStore struct {
	db     *leveldb.DB
	budget int // bytes of cached clean values before eviction

	mu    sync.RWMutex
	cache map[string][]byte // nil value: known absent (deleted)
	dirty map[string]struct{}
	// flushing are the keys of the batch being written: not yet readable from leveldb, so
	// not evictable either.
	flushing map[string]struct{}
	bytes    int
	offset   atomic.Int64 // -1: none known
	offDirty atomic.Bool

	flushMu sync.Mutex
	stop    chan struct{}
	done    chan struct{}
	closed  atomic.Bool
}

// defaultCacheBytes bounds each partition store's cache; an evicted item is read from
// leveldb again.
const defaultCacheBytes = 32 << 20

func newBatchedStore(db *leveldb.DB) (*batchedStore, error) {
	s := &batchedStore{
		db:     db,
		budget: defaultCacheBytes,
		cache:  make(map[string][]byte),
		dirty:  make(map[string]struct{}, flushEntries),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	s.offset.Store(-1)
	raw, err := db.Get([]byte(offsetKey), nil)
	switch {
	case err == nil:
		off, perr := strconv.ParseInt(string(raw), 10, 64)
		if perr != nil {
			db.Close()
			return nil, fmt.Errorf("local store offset %q: %w", raw, perr)
		}
		s.offset.Store(off)
	case err != leveldb.ErrNotFound:
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *batchedStore) Open() error {
	go func() {
		defer close(s.done)
		t := time.NewTicker(flushInterval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				_ = s.flush()
			}
		}
	}()
	return nil
}

func (s *batchedStore) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	close(s.stop)
	<-s.done
	err := s.flush()
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *batchedStore) Has(key string) (bool, error) {
	v, err := s.Get(key)
	return v != nil, err
}

func (s *batchedStore) Get(key string) ([]byte, error) {
	s.mu.RLock()
	v, ok := s.cache[key]
	s.mu.RUnlock()
	if ok {
		return v, nil
	}
	v, err := s.db.Get([]byte(key), nil)
	if err == leveldb.ErrNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("local store get %s: %w", key, err)
	}
	s.mu.Lock()
	// A write may have raced this read; it is newer, keep it.
	if _, ok := s.cache[key]; !ok {
		s.cache[key] = v
		s.bytes += len(key) + len(v)
		s.evictLocked()
	}
	s.mu.Unlock()
	return v, nil
}

func (s *batchedStore) Set(key string, value []byte) error {
	if value == nil {
		return fmt.Errorf("local store set %s: nil value", key)
	}
	return s.put(key, value)
}

func (s *batchedStore) Delete(key string) error { return s.put(key, nil) }

func (s *batchedStore) put(key string, value []byte) error {
	s.mu.Lock()
	old, had := s.cache[key]
	if had {
		s.bytes -= len(key) + len(old)
	}
	s.cache[key] = value
	s.bytes += len(key) + len(value)
	s.dirty[key] = struct{}{}
	full := len(s.dirty) >= flushEntries
	s.mu.Unlock()
	if full {
		return s.flush()
	}
	return nil
}

// evictLocked drops clean entries, in map order (which Go randomizes), until the cache is
// back under budget. Dirty entries stay until flushed.
func (s *batchedStore) evictLocked() {
	if s.bytes <= s.budget {
		return
	}
	target := s.budget * 9 / 10
	for k, v := range s.cache {
		if s.bytes <= target {
			return
		}
		if _, d := s.dirty[k]; d {
			continue
		}
		if _, f := s.flushing[k]; f {
			continue
		}
		delete(s.cache, k)
		s.bytes -= len(k) + len(v)
	}
}

func (s *batchedStore) GetOffset(def int64) (int64, error) {
	if off := s.offset.Load(); off >= 0 {
		return off, nil
	}
	return def, nil
}

func (s *batchedStore) SetOffset(offset int64) error {
	s.offset.Store(offset)
	s.offDirty.Store(true)
	return nil
}

func (s *batchedStore) MarkRecovered() error { return s.flush() }

// flush writes the dirty entries and the offset as one leveldb batch.
func (s *batchedStore) flush() error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	offDirty := s.offDirty.Swap(false)
	var b leveldb.Batch
	s.mu.Lock()
	if len(s.dirty) == 0 && !offDirty {
		s.mu.Unlock()
		return nil
	}
	keys := s.dirty
	s.dirty = make(map[string]struct{}, flushEntries)
	s.flushing = keys
	for k := range keys {
		if v := s.cache[k]; v == nil {
			b.Delete([]byte(k))
		} else {
			b.Put([]byte(k), v)
		}
	}
	s.mu.Unlock()
	if off := s.offset.Load(); off >= 0 {
		b.Put([]byte(offsetKey), strconv.AppendInt(nil, off, 10))
	}
	if err := s.db.Write(&b, nil); err != nil {
		// Mark the entries dirty again (the cache still holds them, or newer values), so
		// the next flush retries them.
		s.mu.Lock()
		for k := range keys {
			s.dirty[k] = struct{}{}
		}
		s.flushing = nil
		s.mu.Unlock()
		s.offDirty.Store(true)
		return fmt.Errorf("local store flush: %w", err)
	}
	s.mu.Lock()
	s.flushing = nil
	s.evictLocked()
	s.mu.Unlock()
	return nil
}

func (s *batchedStore) Iterator() (storage.Iterator, error) {
	return s.IteratorWithRange(nil, nil)
}

// IteratorWithRange flushes first, so the iterator, a leveldb snapshot, sees every write.
func (s *batchedStore) IteratorWithRange(start, limit []byte) (storage.Iterator, error) {
	if err := s.flush(); err != nil {
		return nil, err
	}
	var r *util.Range
	switch {
	case start != nil && limit != nil:
		r = &util.Range{Start: start, Limit: limit}
	case start != nil:
		r = util.BytesPrefix(start)
	}
	return &storeIterator{it: s.db.NewIterator(r, nil)}, nil
}

// storeIterator hides the offset key.
type storeIterator struct{ it iterator.Iterator }

func (i *storeIterator) Next() bool {
	for i.it.Next() {
		if string(i.it.Key()) != offsetKey {
			return true
		}
	}
	return false
}

func (i *storeIterator) Err() error             { return i.it.Error() }
func (i *storeIterator) Key() []byte            { return i.it.Key() }
func (i *storeIterator) Value() ([]byte, error) { return i.it.Value(), nil }
func (i *storeIterator) Release()               { i.it.Release() }
func (i *storeIterator) Seek(key []byte) bool   { return i.it.Seek(key) }
