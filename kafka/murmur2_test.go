package kafka

import (
	"math/rand/v2"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Values of Java's org.apache.kafka.common.utils.Utils.murmur2: the first six
// from Kafka's own UtilsTest.testMurmur2, the rest pinned by Akka's
// Murmur2Spec against the same Java method.
func TestMurmur2MatchesJavaUtilsMurmur2(t *testing.T) {
	cases := []struct {
		key  string
		java int32
	}{
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
		{"abc", 479470107},
		{"1", -1993445489},
		{"12", 126087238},
		{"123", -267702483},
		{"1234", -1614185708},
		{"12345", -1188365604},
	}
	for _, c := range cases {
		t.Run(c.key, func(t *testing.T) {
			if got := int32(murmur2([]byte(c.key))); got != c.java {
				t.Fatalf("murmur2(%q) = %d, Java says %d", c.key, got, c.java)
			}
			h := Murmur2Hasher()
			h.Write([]byte(c.key))
			if got, want := h.Sum32(), javaMasked(c.java); got != want {
				t.Fatalf("Murmur2Hasher Sum32(%q) = %d, want Java's hash masked: %d", c.key, got, want)
			}
		})
	}
}

// The murmur2 value of "21" has its top bit set: this is the case where goka's
// abs() and Java's mask would disagree without the mask in Sum32.
func TestMurmur2HasherSum32IsNonNegativeAsInt32(t *testing.T) {
	h := Murmur2Hasher()
	h.Write([]byte("21"))
	if int32(h.Sum32()) < 0 {
		t.Fatalf("Sum32 = %d as int32: goka would negate it", int32(h.Sum32()))
	}
}

func TestMurmur2HasherWritesInPiecesAndResets(t *testing.T) {
	h := Murmur2Hasher()
	h.Write([]byte("a-little-"))
	h.Write([]byte("bit-long-string"))
	if got, want := h.Sum32(), javaMasked(-985981536); got != want {
		t.Fatalf("Sum32 after two writes = %d, want %d", got, want)
	}
	if b := h.Sum([]byte{9}); len(b) != 5 || b[0] != 9 {
		t.Fatalf("Sum appends 4 bytes, got %v", b)
	}
	h.Reset()
	h.Write([]byte("21"))
	if got, want := h.Sum32(), javaMasked(-973932308); got != want {
		t.Fatalf("Sum32 after Reset = %d, want %d", got, want)
	}
}

// javaMasked is Java's Utils.toPositive: the hash with its sign bit cleared.
func javaMasked(h int32) uint32 { return uint32(h) & 0x7fffffff }

// gokaPartition is goka's View.hash (and Processor's) from a hasher's Sum32.
func gokaPartition(key []byte, n int32) int32 {
	h := Murmur2Hasher()
	h.Write(key)
	hash := int32(h.Sum32())
	if hash < 0 {
		hash = -hash
	}
	return hash % n
}

func TestPartitionAgreesWithFranzGoSaramaAndGoka(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	franz := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	saramaPart := sarama.NewCustomHashPartitioner(Murmur2Hasher)("t")
	for _, n := range []int32{1, 3, 8, 10, 12, 64, 1000} {
		for i := range 10_000 {
			key := make([]byte, rng.IntN(64))
			for j := range key {
				key[j] = byte(rng.Uint32())
			}
			if i%3 == 0 { // keys the way streamhub spells them
				key = []byte(`["user#` + string(rune('a'+i%26)) + `",` + string(rune('0'+i%10)) + `]`)
			}
			ours := Partition(key, n)
			if got := int32(franz.Partition(&kgo.Record{Key: key}, int(n))); got != ours {
				t.Fatalf("key %q, %d partitions: franz-go %d, ours %d", key, n, got, ours)
			}
			got, err := saramaPart.Partition(&sarama.ProducerMessage{Key: sarama.ByteEncoder(key)}, n)
			if err != nil {
				t.Fatal(err)
			}
			if got != ours {
				t.Fatalf("key %q, %d partitions: sarama %d, ours %d", key, n, got, ours)
			}
			if got := gokaPartition(key, n); got != ours {
				t.Fatalf("key %q, %d partitions: goka %d, ours %d", key, n, got, ours)
			}
		}
	}
}
