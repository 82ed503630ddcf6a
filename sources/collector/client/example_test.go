package client_test

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/streamhub/streamhub/sources/collector/client"
)

// An app queues events as they happen and closes the client on shutdown, which posts
// whatever is still queued. Rejected events (invalid for the collector) and failed ones
// (not delivered) are reported, never dropped silently.
func Example() {
	c, err := client.New(client.Options{
		URL:    "http://collector.internal:8081",
		APIKey: os.Getenv("STREAMHUB_COLLECTOR_KEY"),
		Source: "game",
		App:    client.App{ID: "dungeon", Version: "1.4.2"},
		OnRejected: func(rs []client.Rejection) {
			for _, r := range rs {
				log.Printf("event %s rejected: %s: %s", r.Event.EventID, r.Reason, r.Message)
			}
		},
		OnFailed: func(f client.Failure) {
			log.Printf("%d events not delivered: %v", len(f.Events), f.Err)
		},
	})
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	// Enqueue waits while the queue is full; TryEnqueue would return ErrQueueFull.
	if err := c.Enqueue(ctx, client.Event{
		EventName: "level_up",
		User:      client.User{ID: "u-42"},
		Device:    client.Device{ID: "d-7"},
		Payload:   map[string]any{"level": 7, "class": "mage"},
	}); err != nil {
		log.Print(err)
	}

	shutdown, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.Close(shutdown); err != nil {
		log.Print(err)
	}
	st := c.Stats()
	log.Printf("accepted %d, rejected %d, failed %d", st.Accepted, st.Rejected, st.Failed)
}

// Send posts a slice now and returns the outcome, for callers that must know before
// they go on (the end of a request, a batch job).
func ExampleClient_Send() {
	c, err := client.New(client.Options{URL: "http://collector.internal:8081", APIKey: "key", Source: "billing"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(context.Background())
	events := []client.Event{
		{EventName: "invoice_paid", User: client.User{ID: "u-1"}, Payload: map[string]any{"cents": 1299}},
	}
	res, err := c.Send(context.Background(), events)
	if err != nil {
		// events now carry their IDs: sending the same slice again re-sends these events
		// (same event_id), it does not make new ones.
		log.Printf("accepted %d, then: %v", res.Accepted, err)
	}
}
