package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"

	"github.com/streamhub/streamhub/kafka"
)

// plainGoka is the baseline the issue measures against: a goka processor as its README
// shows it — goka's default sarama settings and leveldb storage, encoding/json for the
// record and the state — doing the same job (keep the change with the greatest sequence
// number per key). Only what kfake and correct partitioning require is changed: the
// protocol version, the oldest offset and the murmur2 hasher.
func plainGoka(ctx context.Context, conn *kafka.Conn, topic, group, dir string, want int64) (perSec float64, err error) {
	type record struct {
		EventName string `json:"eventName"`
		DynamoDB  struct {
			SequenceNumber string         `json:"SequenceNumber"`
			NewImage       map[string]any `json:"NewImage"`
		} `json:"dynamodb"`
	}
	type stored struct {
		Seq     string         `json:"seq"`
		Deleted bool           `json:"deleted"`
		Item    map[string]any `json:"item"`
	}
	var n atomic.Int64
	cb := func(ctx goka.Context, msg any) {
		defer n.Add(1)
		var r record
		if err := json.Unmarshal(msg.([]byte), &r); err != nil {
			return
		}
		seq, _ := new(big.Int).SetString(r.DynamoDB.SequenceNumber, 10)
		if v := ctx.Value(); v != nil && seq != nil {
			var s stored
			if json.Unmarshal(v.([]byte), &s) == nil {
				if cur, ok := new(big.Int).SetString(s.Seq, 10); ok && seq.Cmp(cur) <= 0 {
					return
				}
			}
		}
		b, _ := json.Marshal(stored{Seq: r.DynamoDB.SequenceNumber, Deleted: r.EventName == "REMOVE", Item: r.DynamoDB.NewImage})
		ctx.SetValue(b)
	}

	cfg := goka.DefaultConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	tmc := goka.NewTopicManagerConfig()
	tmc.Table.Replication, tmc.Stream.Replication = 1, 1
	g := goka.DefineGroup(goka.Group(group), goka.Input(goka.Stream(topic), new(codec.Bytes), cb), goka.Persist(new(codec.Bytes)))
	p, err := goka.NewProcessor(conn.Brokers(), g,
		goka.WithHasher(kafka.Murmur2Hasher),
		goka.WithStorageBuilder(storage.DefaultBuilder(dir)),
		goka.WithTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(cfg, tmc)),
		goka.WithConsumerGroupBuilder(goka.ConsumerGroupBuilderWithConfig(copyConfig(cfg))),
		goka.WithConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(copyConfig(cfg))),
		goka.WithProducerBuilder(goka.ProducerBuilderWithConfig(copyConfig(cfg))),
		goka.WithLogger(quietLogger{}),
	)
	if err != nil {
		return 0, err
	}
	return runUntil(ctx, p.Run, func() int64 { return n.Load() }, want)
}

func copyConfig(c *sarama.Config) *sarama.Config {
	cp := *c
	return &cp
}

// runUntil runs a processor until count reaches want and returns the rate from the first
// counted record to the last.
func runUntil(ctx context.Context, run func(context.Context) error, count func() int64, want int64) (float64, error) {
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(pctx) }()
	var first, lastPrint time.Time
	for {
		n := count()
		if first.IsZero() && n > 0 {
			first = time.Now()
		}
		if n >= want {
			break
		}
		if os.Getenv("BENCH_TRACE") != "" && time.Since(lastPrint) > 500*time.Millisecond {
			fmt.Fprintf(os.Stderr, "%6.1fs %d\n", time.Since(first).Seconds(), n)
			lastPrint = time.Now()
		}
		select {
		case err := <-done:
			return 0, fmt.Errorf("bench: processor stopped after %d records: %v", n, err)
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	rate := float64(want) / time.Since(first).Seconds()
	cancel()
	return rate, <-done
}

type quietLogger struct{}

func (quietLogger) Print(...any)          {}
func (quietLogger) Println(...any)        {}
func (quietLogger) Printf(string, ...any) {}
