// Package lambda is the Lambda mode of the DynamoDB Streams → Kafka bridge: the handler
// of an AWS Lambda function behind a DynamoDB event source mapping (ESM). Each stream
// record of an invocation becomes one record of the table's raw CDC topic, with the same
// key and value bytes the polling bridge (sources/dynamodb) writes: the key is the item
// key (state.EncodeKey), the value the record as Lambda delivers it, normalised by
// Normalize.
//
// # Delivery: at-least-once
//
// Lambda mode writes into Kafka at least once, not exactly once. A batch is produced by
// an idempotent producer (acks=all), and the records Kafka did not acknowledge are
// reported back to Lambda as batch item failures; Lambda then retries from the lowest
// reported sequence number. Every record from the first failed one (in event order) on is
// reported, so the retry re-sends the later records too: per-item order is kept, but a
// record that had been written is written again. A Lambda timeout or crash retries the
// whole batch the same way. The processors' version order makes such duplicates harmless
// (a change that is not newer than the stored state is dropped as a duplicate), but the
// raw topic itself may hold them. The polling bridge, by contrast, writes each shard's
// records and its checkpoint in one Kafka transaction and puts every record in the topic
// exactly once; use it where the raw topic must be free of duplicates.
//
// # Malformed records
//
// A record that cannot be parsed or keyed must not block its shard until it expires. With
// a DLQ topic configured it is written there, unchanged, with the processors' DLQ headers
// (streamhub.dlq.reason, streamhub.dlq.error, streamhub.dlq.table) and counts as
// handled. Without one it is reported as a batch item failure, and the shard waits on it
// until the event source mapping's MaximumRetryAttempts or MaximumRecordAgeInSeconds
// gives up on it.
package lambda
