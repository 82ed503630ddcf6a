package kafka

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The franz-go producer goka's processors use: every record lands in the
// partition goka's hasher (and sarama's partitioner with it) picks, each promise
// is finished with the record's partition and offset (goka stores the offset as
// the table's), headers and values arrive as emitted, and Close flushes what is
// still buffered.
func TestGokaProducerPartitionsLikeSaramaAndFinishesPromisesWithOffsets(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	conn := connectEmbedded(ctx, t)
	const (
		topic = "dev.users.state-table"
		parts = 7
		n     = 500
	)
	if _, err := conn.EnsureTopics(ctx, specs(spec(topic, parts, true))); err != nil {
		t.Fatal(err)
	}
	p, err := GokaProducerBuilder(conn)(conn.Brokers(), "goka-producer-test", Murmur2Hasher)
	if err != nil {
		t.Fatal(err)
	}
	saramaPart := sarama.NewCustomHashPartitioner(Murmur2Hasher)(topic)

	type result struct {
		key string
		msg *sarama.ProducerMessage
		err error
	}
	results := make(chan result, n)
	for i := range n {
		key := fmt.Sprintf(`["user#%d"]`, i)
		var promise *goka.Promise
		if i%2 == 0 {
			promise = p.Emit(topic, key, []byte("v:"+key))
		} else {
			promise = p.EmitWithHeaders(topic, key, []byte("v:"+key), goka.Headers{"streamhub-reason": []byte("r:" + key), "x": nil})
		}
		promise.ThenWithMessage(func(msg *sarama.ProducerMessage, err error) { results <- result{key, msg, err} })
	}
	// Half of them may still be buffered: Close must deliver them.
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	offsets := map[string]int64{}
	for range n {
		r := <-results
		if r.err != nil {
			t.Fatalf("%s: %v", r.key, r.err)
		}
		want, err := saramaPart.Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(r.key)}, parts)
		if err != nil {
			t.Fatal(err)
		}
		if r.msg.Topic != topic || r.msg.Partition != want || r.msg.Partition != Partition([]byte(r.key), parts) {
			t.Errorf("%s: promise says %s/%d, sarama's partitioner says %d", r.key, r.msg.Topic, r.msg.Partition, want)
		}
		offsets[fmt.Sprintf("%d/%d", r.msg.Partition, r.msg.Offset)] = 0
	}
	if len(offsets) != n {
		t.Errorf("%d distinct partition/offset pairs in %d promises", len(offsets), n)
	}

	readRecords(ctx, t, conn, topic, n, func(r *kgo.Record) {
		key := string(r.Key)
		if string(r.Value) != "v:"+key {
			t.Errorf("%s: value %q", key, r.Value)
		}
		if _, ok := offsets[fmt.Sprintf("%d/%d", r.Partition, r.Offset)]; !ok {
			t.Errorf("%s at %d/%d: no promise reported it", key, r.Partition, r.Offset)
		}
		headers := map[string]string{}
		for _, h := range r.Headers {
			headers[h.Key] = string(h.Value)
		}
		var i int
		fmt.Sscanf(key, `["user#%d"]`, &i)
		switch {
		case i%2 == 0 && len(headers) != 0:
			t.Errorf("%s: headers %v on a plain Emit", key, headers)
		case i%2 == 1 && (len(headers) != 2 || headers["streamhub-reason"] != "r:"+key):
			t.Errorf("%s: headers %v", key, headers)
		}
	})
}

// A record the cluster cannot take fails its promise (goka then stops the
// processor with the error) instead of hanging or being dropped, and emitting
// after Close fails the promise instead of panicking as sarama's producer does.
func TestGokaProducerFailsPromisesItCannotDeliver(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	conn := connectEmbedded(ctx, t)
	p, err := GokaProducerBuilder(conn, kgo.RecordDeliveryTimeout(2*time.Second))(conn.Brokers(), "goka-producer-test", Murmur2Hasher)
	if err != nil {
		t.Fatal(err)
	}
	wait := func(promise *goka.Promise) error {
		done := make(chan error, 1)
		promise.Then(func(err error) { done <- err })
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			t.Fatal("promise never finished")
			return nil
		}
	}
	err = wait(p.Emit("no-such-topic", "k", []byte("v")))
	if !errors.Is(err, kerr.UnknownTopicOrPartition) && !errors.Is(err, kgo.ErrRecordTimeout) {
		t.Errorf("emit to a missing topic: %v, want %v or %v", err, kerr.UnknownTopicOrPartition, kgo.ErrRecordTimeout)
	} else {
		t.Logf("emit to a missing topic: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := wait(p.Emit("no-such-topic", "k", []byte("v"))); !errors.Is(err, kgo.ErrClientClosed) {
		t.Errorf("emit after Close: %v, want %v", err, kgo.ErrClientClosed)
	}
}
