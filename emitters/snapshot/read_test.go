package snapshot

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhub/streamhub/state"
)

// TestTakeCompactedTail: compaction removed the last records of a partition, so no
// record sits below the end offset. The broker answers a fetch there with no batch at
// all; the snapshot must finish instead of waiting for offsets that will never come.
func TestTakeCompactedTail(t *testing.T) {
	ctx := testContext(t)
	tb := testTable("compacted", 1)
	conn := startConn(t, tb)
	p := newProducer(t, conn, tb, "")
	var want []Row
	for i := range 6 {
		pk := fmt.Sprintf("user#%d", i)
		key, _ := state.KeyFromStrings([]string{pk, "profile"}, nil)
		v := value(pk, "profile", i, false)
		p.plain(ctx, put(key, v)) // one batch per record
		if i < 3 {
			want = append(want, expected(key, `{"pk":"`+pk+`","sk":"profile"}`, v))
		}
	}

	// Offsets 3, 4 and 5 are "compacted away": a fetch from 3 on gets no batch, with the
	// high watermark and stable offset at 6. Below 3 the broker answers normally, one
	// batch per fetch, so the reader walks up to the gap.
	var gapFetches atomic.Int32
	conn.Embedded().Cluster().ControlKey(kmsg.Fetch.Int16(), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		conn.Embedded().Cluster().KeepControl()
		req := kreq.(*kmsg.FetchRequest)
		if len(req.Topics) != 1 || len(req.Topics[0].Partitions) != 1 {
			return nil, nil, false
		}
		rp := &req.Topics[0].Partitions[0]
		if rp.FetchOffset < 3 {
			rp.PartitionMaxBytes = 1
			return nil, nil, false
		}
		gapFetches.Add(1)
		resp := kreq.ResponseKind().(*kmsg.FetchResponse)
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic, rt.TopicID = req.Topics[0].Topic, req.Topics[0].TopicID
		part := kmsg.NewFetchResponseTopicPartition()
		part.Partition = rp.Partition
		part.HighWatermark, part.LastStableOffset, part.LogStartOffset = 6, 6, 0
		rt.Partitions = append(rt.Partitions, part)
		resp.Topics = append(resp.Topics, rt)
		return resp, nil, true
	})

	st := newMemStore()
	res, err := Take(ctx, Options{Conn: conn, Table: tb, Store: st, Logger: testLogger(t),
		Now: fixedNow(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))})
	if err != nil {
		t.Fatal(err)
	}
	if gapFetches.Load() == 0 {
		t.Fatal("the reader never fetched from the gap")
	}
	compareRows(t, readSnapshot(t, st, res), want)
}

// TestTakeOpenTransaction: a transaction still open when the snapshot starts holds the
// stable offset back; the snapshot ends there instead of waiting for the transaction.
func TestTakeOpenTransaction(t *testing.T) {
	ctx := testContext(t)
	tb := testTable("open", 2)
	conn := startConn(t, tb)
	const k1, k2 = `["a","1"]`, `["b","2"]`
	newProducer(t, conn, tb, "").plain(ctx, put(k1, value("a", "1", 1, false)))

	tx := newProducer(t, conn, tb, "snapshot-test-open")
	if err := tx.cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, o := range []op{put(k1, value("a", "1", 2, false)), put(k2, value("b", "2", 3, false))} {
		if err := tx.cl.ProduceSync(ctx, o.record(tx.topic)).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	st := newMemStore()
	res, err := Take(ctx, Options{Conn: conn, Table: tb, Store: st, Logger: testLogger(t),
		Now: fixedNow(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))})
	if err != nil {
		t.Fatal(err)
	}
	compareRows(t, readSnapshot(t, st, res), []Row{expected(k1, `{"pk":"a","sk":"1"}`, value("a", "1", 1, false))})
	if err := tx.cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
}
