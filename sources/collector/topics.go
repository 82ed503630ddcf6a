package collector

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/topology"
)

// topicCache creates event topics on first use: default topics depend on what clients
// send, and brokers (MSK by default, the embedded one) do not create topics on produce.
// A topic found or created once is not asked about again.
type topicCache struct {
	conn       *kafka.Conn
	partitions int

	mu    sync.Mutex
	known map[string]bool
	adm   *kadm.Client
}

func newTopicCache(conn *kafka.Conn, partitions int) *topicCache {
	return &topicCache{conn: conn, partitions: partitions, known: map[string]bool{}}
}

func (t *topicCache) ensure(ctx context.Context, topics map[string]bool) error {
	t.mu.Lock()
	var missing []string
	for name := range topics {
		if !t.known[name] {
			missing = append(missing, name)
		}
	}
	t.mu.Unlock()
	if len(missing) == 0 {
		return nil
	}
	slices.Sort(missing)
	specs := make([]topology.TopicSpec, len(missing))
	for i, name := range missing {
		specs[i] = topology.TopicSpec{Name: name, Partitions: t.partitions, Purpose: "events"}
	}
	adm, err := t.admin()
	if err != nil {
		return err
	}
	k := t.conn.Kafka()
	_, err = kafka.EnsureTopics(ctx, adm, specs, k.ReplicationFactor, k.MinInsyncReplicas)
	var mismatch *kafka.TopicMismatchError
	if err != nil && !errors.As(err, &mismatch) {
		return err
	}
	t.mu.Lock()
	for _, name := range missing {
		t.known[name] = true
	}
	t.mu.Unlock()
	return nil
}

func (t *topicCache) admin() (*kadm.Client, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.adm == nil {
		adm, err := t.conn.Admin()
		if err != nil {
			return nil, err
		}
		t.adm = adm
	}
	return t.adm, nil
}

func (t *topicCache) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.adm != nil {
		t.adm.Close()
		t.adm = nil
	}
}

// Topics creates event topics on first use, for the events processor.
type Topics struct{ c *topicCache }

// NewTopics makes missing topics with the given partition count and the connection's
// replication settings.
func NewTopics(conn *kafka.Conn, partitions int) *Topics {
	return &Topics{newTopicCache(conn, partitions)}
}

// Ensure creates the topics not known to exist yet.
func (t *Topics) Ensure(ctx context.Context, topics map[string]bool) error {
	return t.c.ensure(ctx, topics)
}

// Close closes the admin client.
func (t *Topics) Close() { t.c.close() }
