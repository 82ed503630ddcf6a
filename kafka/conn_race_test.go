package kafka

import (
	"context"
	"sync"
	"testing"

	"github.com/streamhub/streamhub/topology"
)

// TestClientsMayBeCreatedConcurrently: a Conn hands out clients to many goroutines (views,
// processors, producers); under -race, creating them at once must not share mutable options.
func TestClientsMayBeCreatedConcurrently(t *testing.T) {
	conn, err := Connect(context.Background(), topology.Kafka{
		Brokers: []string{"embedded"}, EmbeddedListen: "127.0.0.1:0", ClientID: "t",
		ReplicationFactor: 1, MinInsyncReplicas: 1, Compression: "lz4",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := conn.Client()
			if err != nil {
				t.Error(err)
				return
			}
			cl.Close()
		}()
	}
	wg.Wait()
}
