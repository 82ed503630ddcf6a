package warehouse

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/state"
	"github.com/streamhub/streamhub/topology"
)

// BenchmarkRows converts a flush of 10,000 table topic records with two projected
// columns into stage rows and keeps the newest per key.
//
//	go test -run '^$' -bench BenchmarkRows -benchmem ./emitters/warehouse
func BenchmarkRows(b *testing.B) {
	t := StateTable(topology.Table{
		Name: "items", Keys: []string{"id", "sk"}, Group: "g",
		Columns: []topology.Column{{Name: "name", Path: "name", Type: "string"}, {Name: "n", Path: "n", Type: "int"}},
	}, "", "")
	recs := make([]*kgo.Record, 10000)
	for i := range recs {
		v := state.Value{Deleted: i%3 == 1, Version: state.Version{Seq: fmt.Sprint(1000 + i), Stream: "arn:aws:dynamodb:eu-west-1:1:table/items/stream/1", CreatedAt: 1767225600000 + int64(i)}}
		if !v.Deleted {
			v.Item = fmt.Appendf(nil, `{"id":"u%d","n":%d,"name":"item %d with some text","sk":"s","tags":["a","b"],"address":{"city":"Berlin","zip":"10115"}}`, i, i, i)
		}
		val, err := v.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		recs[i] = &kgo.Record{Key: fmt.Appendf(nil, `["u%d","s"]`, i), Value: val, Offset: int64(i)}
	}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		rows, _ := Rows(t, recs, now)
		Newest(t, rows)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
}
