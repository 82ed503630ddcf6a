package api_test

import (
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhub/streamhub/api"
)

// gateFetches holds every fetch the broker of b receives until the returned open is
// called: views find records to read but cannot read them. Callers also register open as a
// cleanup after the server's, so that it runs first and no held fetch delays the shutdown.
func gateFetches(t *testing.T, b *broker) (open func()) {
	t.Helper()
	gate := make(chan struct{})
	var once sync.Once
	open = func() { once.Do(func() { close(gate) }) }
	cluster := b.conn.Embedded().Cluster()
	cluster.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
		select {
		case <-gate:
			cluster.DropControl()
		default:
			cluster.SleepControl(func() { <-gate })
		}
		return nil, nil, false // then the broker answers the fetch as usual
	})
	return open
}

func TestLocalStoreServesAfterRestartWithoutReadingTheTopic(t *testing.T) {
	b := newBroker(t, testItems())
	dir := t.TempDir()
	first, err := startServerWith(b, api.Options{StorageDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.waitReady(); err != nil {
		first.stop()
		t.Fatal(err)
	}
	if err := first.stop(); err != nil {
		t.Fatalf("first Run: %v", err)
	}

	// The local store holds every record and its offset: the second server recovers and
	// knows it is caught up without fetching a single record.
	open := gateFetches(t, b)
	second, err := startServerWith(b, api.Options{StorageDir: dir})
	if err != nil {
		open()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := second.stop(); err != nil {
			t.Errorf("second Run: %v", err)
		}
	})
	t.Cleanup(open)
	if err := second.waitReady(); err != nil {
		t.Fatal(err)
	}
	r := get(t, second.addr, "/v1/tables/users/item", url.Values{"pk": {"user#1"}, "sk": {"profile"}})
	if r.Code != http.StatusOK {
		t.Fatalf("item from the local store: status %d, body %s", r.Code, r.Body)
	}
	// One record more, which the gated view cannot read: its lag is exactly that record,
	// counted from the offsets the local store resumed at.
	if err := b.write(t.Context(), []storedItem{live("users", mustKey([]string{"user#1", "new"}, nil), `{"pk":"user#1","sk":"new"}`)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "users lag 1", func() bool { return listTables(t, second.addr)[0].Lag == 1 })
	r = get(t, second.addr, "/v1/tables/users/item", url.Values{"pk": {"user#1"}, "sk": {"new"}})
	if r.Code != http.StatusNotFound {
		t.Errorf("unapplied item: status %d, want 404", r.Code)
	}
	if lag := lagHeader(t, r); lag != 1 {
		t.Errorf("%s %d on a lookup with one record unapplied, want 1", api.HeaderLag, lag)
	}

	open()
	waitFor(t, "the new record applied", func() bool {
		r := get(t, second.addr, "/v1/tables/users/item", url.Values{"pk": {"user#1"}, "sk": {"new"}})
		return r.Code == http.StatusOK && lagHeader(t, r) == 0
	})
}
