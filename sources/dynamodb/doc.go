// Package dynamodb bridges DynamoDB Streams into Kafka: every stream record lands in its
// table's CDC topic exactly once, in per-item order, across shard splits, restarts,
// throttling and several bridge instances, with no store but Kafka.
//
// How:
//
//   - Records. The value is the record as AWS Lambda receives it (state.Record, with the
//     stream ARN as eventSourceARN); the key is the item key (state.EncodeKey), so an
//     item's changes share a partition. cmd/streamhub-lambda writes the same bytes.
//   - Checkpoints. Each shard's checkpoint (last sequence number, ended) lives in a
//     compacted topic keyed by stream ARN + shard ID, and is written in the same Kafka
//     transaction as the records of one GetRecords batch. A crash before the commit
//     leaves neither in the topic; one after leaves both.
//   - Leases. The checkpoint topic's partitions are the leases. Instances join one
//     consumer group over that topic; a shard belongs to the partition its checkpoint
//     key hashes to, so the group's assignment decides who reads which shard, and
//     scales out and fails over by itself.
//   - Fencing. Each lease has its own transactional ID. A new owner initialises its
//     producer (aborting the old owner's open transaction and fencing its producer),
//     commits a marker record, and only then reads the lease's checkpoints: everything
//     committed before the marker is visible, and a zombie can commit nothing after it.
//   - Lineage. Every instance tails the whole checkpoint topic, so a child shard starts
//     only after its parent's Ended checkpoint is committed, whoever read the parent.
//   - Re-created tables. Without stream_arn, the source's table is asked for its
//     LatestStreamArn every discovery_interval. A new one (the table deleted and created
//     again under its name, or its stream disabled and enabled) is logged and counted
//     (streamhub_bridge_stream_changes_total); the old stream, DISABLED with its shards
//     closed, is read to its end, then the new one from TRIM_HORIZON (whatever the
//     source's start, if the old one was read), so an item's changes stay in order
//     across the two tables. At start the bridge lists the table's older streams
//     (ListStreams) and reads them to their end first, so a table re-created while the
//     bridge was down loses no record of the old stream's 24 hours. DeleteTable
//     writes no REMOVE records: an item the new table never writes keeps the old
//     table's last state downstream, told apart by its version's stream (the old ARN).
//   - Errors. Throttling and 5xx back off with full jitter; an expired iterator is
//     re-created from the checkpoint; trimmed data resumes at TRIM_HORIZON and is logged
//     and counted as data loss; a record that cannot be keyed goes to the DLQ. Any
//     Kafka failure throws the lease's session away and starts it again from the
//     checkpoints, the one recovery path.
package dynamodb
