package topology

import (
	"reflect"
	"testing"
)

func TestTopicsListEveryTopicThePipelineCreatesOnce(t *testing.T) {
	t.Parallel()
	production, err := parseFile(t, "testdata/good/production.yaml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	collectorOnly, err := parseFile(t, "testdata/good/collector-only.yaml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		c    *Config
		want []TopicSpec
	}{
		{"dev", DevConfig(), []TopicSpec{
			{Name: "dev.users.cdc", Partitions: 8, Purpose: PurposeCDC},
			{Name: "dev.users.state-table", Partitions: 8, Compacted: true, Purpose: PurposeState},
			{Name: "dev.users.state-loop", Partitions: 8, Purpose: PurposeLoop},
			{Name: "streamhub.bridge.checkpoints", Partitions: 4, Compacted: true, Purpose: PurposeCheckpoint},
			{Name: "dev.streamhub.dlq", Partitions: 1, Purpose: PurposeDLQ},
		}},
		{"production: own topic names, a DLQ per component, sink topics left out", production, []TopicSpec{
			{Name: "prod.users.cdc", Partitions: 12, Purpose: PurposeCDC},
			{Name: "prod.users.state-table", Partitions: 12, Compacted: true, Purpose: PurposeState},
			{Name: "prod.users.state-loop", Partitions: 12, Purpose: PurposeLoop},
			{Name: "prod.shop.orders.cdc", Partitions: 24, Purpose: PurposeCDC},
			{Name: "prod.shop.orders.state-table", Partitions: 24, Compacted: true, Purpose: PurposeState},
			{Name: "prod.shop.orders.state-loop", Partitions: 24, Purpose: PurposeLoop},
			{Name: "streamhub.bridge.checkpoints", Partitions: 32, Compacted: true, Purpose: PurposeCheckpoint},
			{Name: "prod.streamhub.dlq", Partitions: 1, Purpose: PurposeDLQ},
			{Name: "prod.collector.dlq", Partitions: 1, Purpose: PurposeDLQ},
		}},
		{"collector sharing the processor DLQ", collectorOnly, []TopicSpec{
			{Name: "dev.streamhub.dlq", Partitions: 1, Purpose: PurposeDLQ},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.c.Topics(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
