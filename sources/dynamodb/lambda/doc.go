// Package lambda is the Lambda mode of the DynamoDB Streams → Kafka bridge: the handler
// of an AWS Lambda function behind a DynamoDB event source mapping (ESM). Each stream
// record of an invocation becomes one record of the table's raw CDC topic, with the same
// key and value bytes the polling bridge (sources/dynamodb) writes: the key is the item
// key (state.EncodeKey), the value the record as Lambda delivers it, normalised by
// Normalize.
//
// # Delivery: one transaction per batch
//
// Each invocation writes its batch in one Kafka transaction and answers Lambda only after
// the commit. When anything fails (a record refused, no acknowledgement within the
// produce timeout, the broker unreachable, the commit refused or its outcome unknown) the
// transaction is aborted and the whole batch is reported as batch item failures, so
// Lambda retries it from its first record; a read_committed reader (every streamhub
// consumer) never sees a record of an aborted batch, and the retry puts each record in
// the topic once. An at-least-once producer could not: records of a partially
// acknowledged batch would stay in the topic and be written again by the retry.
//
// The transactional ID is the configured prefix and 16 random hex digits, fixed for the
// execution environment's life. It is not derived from the shard, which the ESM event
// does not name, and two environments (two shards at once) must not share one. A client
// that cannot end its transaction is replaced by one with the same ID, which fences it
// and aborts what it left open. A function killed inside a transaction (timeout, crash)
// leaves it open until the transaction timeout (the produce timeout plus 30 seconds);
// read_committed readers of its partitions wait that long, and then the broker aborts it.
//
// What can still be written twice is a batch that was committed but that Lambda sends
// again: the function died or timed out after its commit and before Lambda had its
// answer, the commit happened but its answer was lost (reported as failed), or the event
// source mapping delivered the batch twice (its delivery is at-least-once). The topic
// then holds those records twice, each copy with the same eventID and SequenceNumber.
// The processors' version order drops the second copy as a duplicate. The polling bridge
// (sources/dynamodb) commits each shard's checkpoint in the transaction with its records
// and has no such window.
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
