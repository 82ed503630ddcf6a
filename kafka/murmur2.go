package kafka

import (
	"encoding/binary"
	"hash"
)

// Murmur2Hasher returns a new hasher computing Kafka's murmur2 (Java's
// Utils.murmur2, franz-go's KafkaHasher, librdkafka's murmur2_random) with
// Sum32 already masked to 31 bits (h & 0x7fffffff).
//
// It is meant for goka.WithHasher, goka.WithViewHasher, goka.WithEmitterHasher
// and sarama.NewCustomHashPartitioner. The mask is what makes them agree with
// Java: Java maps a hash to (h & 0x7fffffff) % n, while goka and sarama map it
// to abs(int32(h)) % n. The two agree only for non-negative int32 values, and
// the mask guarantees that. Without it, every key whose murmur2 has the top
// bit set (half of them) would be looked up in the wrong partition.
func Murmur2Hasher() hash.Hash32 { return new(murmur2Hash) }

// Partition is the partition Kafka's default partitioner picks for key among n
// partitions: (murmur2(key) & 0x7fffffff) % n.
func Partition(key []byte, n int32) int32 {
	return int32(murmur2(key)&0x7fffffff) % n
}

// murmur2Hash buffers what is written, because murmur2 mixes the total length
// into its seed before it reads the first byte; it cannot hash incrementally.
type murmur2Hash struct{ buf []byte }

func (h *murmur2Hash) Write(p []byte) (int, error) {
	h.buf = append(h.buf, p...)
	return len(p), nil
}

// Sum32 is murmur2 of everything written, masked to 31 bits.
func (h *murmur2Hash) Sum32() uint32 { return murmur2(h.buf) & 0x7fffffff }

func (h *murmur2Hash) Sum(b []byte) []byte { return binary.BigEndian.AppendUint32(b, h.Sum32()) }
func (h *murmur2Hash) Reset()              { h.buf = h.buf[:0] }
func (h *murmur2Hash) Size() int           { return 4 }
func (h *murmur2Hash) BlockSize() int      { return 4 }

// murmur2 is Kafka's murmur2 (MurmurHash2 by Austin Appleby with Kafka's
// seed), unmasked. Java spells it with ints and unsigned shifts; uint32
// arithmetic gives the same bits.
func murmur2(data []byte) uint32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	h := seed ^ uint32(len(data))
	for len(data) >= 4 {
		k := binary.LittleEndian.Uint32(data)
		data = data[4:]
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch len(data) {
	case 3:
		h ^= uint32(data[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}
