package kafka

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The way the processor and the view API will use this package: goka with
// streamhub's sarama config and murmur2 on the embedded broker. Half the
// input is written by franz-go (as the bridge does), half by a goka emitter,
// all of it before the processor starts; the view must find every key.
func TestGokaProcessorAndViewOnEmbeddedFindKeysFromAnyClient(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	conn := connectEmbedded(ctx, t)
	const (
		input = "dev.users.cdc"
		group = "dev.users.state"
		parts = 6
		nkeys = 300
	)
	// The table topic is left to goka's topic manager, to prove
	// GokaTopicManagerConfig lets it create one on a one-broker cluster.
	if _, err := conn.EnsureTopics(ctx, specs(spec(input, parts, false))); err != nil {
		t.Fatal(err)
	}
	tm := func() goka.TopicManagerBuilder {
		return goka.TopicManagerBuilderWithConfig(conn.Sarama(), GokaTopicManagerConfig(conn.Kafka()))
	}
	keys := make([]string, nkeys)
	for i := range keys {
		keys[i] = fmt.Sprintf(`["user#%d","profile"]`, i)
	}

	// Input from franz-go with its default partitioner.
	cl, err := conn.Client(kgo.DefaultProduceTopic(input))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, k := range keys[:nkeys/2] {
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(k), Value: []byte("franz:" + k)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// Input from a goka emitter.
	em, err := goka.NewEmitter(conn.Brokers(), goka.Stream(input), new(codec.String),
		goka.WithEmitterHasher(Murmur2Hasher),
		goka.WithEmitterProducerBuilder(goka.ProducerBuilderWithConfig(conn.Sarama())),
		goka.WithEmitterTopicManagerBuilder(tm()),
	)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys[nkeys/2:] {
		if err := em.EmitSync(k, "goka:"+k); err != nil {
			t.Fatal(err)
		}
	}
	if err := em.Finish(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i, k := range keys {
		if i < nkeys/2 {
			want[k] = "franz:" + k
		} else {
			want[k] = "goka:" + k
		}
	}
	checkPartitions(ctx, t, conn, input, parts, nkeys)

	// The processor writes its table through GokaProducerBuilder, as streamhub's do.
	graph := goka.DefineGroup(goka.Group(group),
		goka.Input(goka.Stream(input), new(codec.String), func(ctx goka.Context, msg any) { ctx.SetValue(msg) }),
		goka.Persist(new(codec.String)),
	)
	proc, err := goka.NewProcessor(conn.Brokers(), graph,
		goka.WithHasher(Murmur2Hasher),
		goka.WithConsumerGroupBuilder(goka.ConsumerGroupBuilderWithConfig(conn.Sarama())),
		goka.WithConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(conn.Sarama())),
		goka.WithProducerBuilder(GokaProducerBuilder(conn)),
		goka.WithTopicManagerBuilder(tm()),
		goka.WithStorageBuilder(storage.MemoryBuilder()),
	)
	if err != nil {
		t.Fatal(err)
	}
	view, err := goka.NewView(conn.Brokers(), goka.GroupTable(group), new(codec.String),
		goka.WithViewHasher(Murmur2Hasher),
		goka.WithViewConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(conn.Sarama())),
		goka.WithViewTopicManagerBuilder(tm()),
		goka.WithViewStorageBuilder(storage.MemoryBuilder()),
	)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	procErr, viewErr := make(chan error, 1), make(chan error, 1)
	go func() { procErr <- proc.Run(runCtx) }()
	go func() { viewErr <- view.Run(runCtx) }()

	missing := len(want)
	for missing > 0 && ctx.Err() == nil {
		missing = 0
		for k, v := range want {
			got, err := view.Get(k)
			if err != nil || got != v {
				missing++
			}
		}
		if missing > 0 {
			select {
			case err := <-procErr:
				t.Fatalf("processor stopped: %v", err)
			case err := <-viewErr:
				t.Fatalf("view stopped: %v", err)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	if missing > 0 {
		t.Fatalf("the view finds %d of %d keys", len(want)-missing, len(want))
	}
	for _, k := range keys[:10] {
		if got, err := proc.Get(k); err != nil || got != want[k] {
			t.Errorf("processor Get(%s) = %v, %v; want %s", k, got, err, want[k])
		}
	}
	stop()
	for name, ch := range map[string]chan error{"processor": procErr, "view": viewErr} {
		if err := <-ch; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// checkPartitions reads topic and checks every record sits in the partition
// Partition picks for its key.
func checkPartitions(ctx context.Context, t *testing.T, conn *Conn, topic string, parts int32, n int) {
	t.Helper()
	readRecords(ctx, t, conn, topic, n, func(r *kgo.Record) {
		if want := Partition(r.Key, parts); r.Partition != want {
			t.Errorf("%s (%s) is in partition %d, murmur2 says %d", r.Key, r.Value, r.Partition, want)
		}
	})
}
