package topology_test

import (
	"fmt"
	"os"

	"github.com/streamhub/streamhub/topology"
)

func ExampleDevConfig() {
	c := topology.DevConfig()
	topology.Print(os.Stdout, c)
	for _, t := range c.Topics() {
		fmt.Printf("%s %s partitions=%d compacted=%v\n", t.Purpose, t.Name, t.Partitions, t.Compacted)
	}
	// Output:
	// kafka: embedded (127.0.0.1:9092), replication 1, min.insync 1
	// dynamodb:users@us-east-1 ─► dev.users.cdc (8 partitions) ─► table users [pk, sk] version=updatedAt ─► dev.users.state-table (compacted) ─► sink lake (file)
	// dev.users.cdc ─► sink lake (file)
	// sink lake (file): streamhub-data/lake as jsonl_gz, state snapshots every 1m; flush at 10000 records, 5 MiB or 10s
	// bridge: group dev.streamhub.bridge, checkpoints in streamhub.bridge.checkpoints (4 leases, compacted), new shards every 2s
	// api: http://127.0.0.1:8080  (auth: none)
	// dlq: dev.streamhub.dlq
	// cdc dev.users.cdc partitions=8 compacted=false
	// state dev.users.state-table partitions=8 compacted=true
	// loop dev.users.state-loop partitions=8 compacted=false
	// checkpoint streamhub.bridge.checkpoints partitions=4 compacted=true
	// dlq dev.streamhub.dlq partitions=1 compacted=false
}

func ExampleParse() {
	_, err := topology.Parse("users.yaml", []byte(`
kafka:
  brokers: embedded
tables:
  - name: users
    keys: [pk, sk]
    partitions: 0
  - name: orders
    key: [id]
`))
	fmt.Println(err)
	// Output:
	// users.yaml:7: tables[0].partitions: must be between 1 and 10000, got 0
	// users.yaml:8: tables[1].keys: required: the hash key, then the range key if the table has one ([pk] or [pk, sk])
	// users.yaml:9: tables[1]: unknown field "key"; did you mean "keys"?
}
