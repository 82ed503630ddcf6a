// Package ddbtest is an in-process server of the DynamoDB Streams API (and the few
// DynamoDB API calls a stream reader and a writer need), good enough that the real
// aws-sdk-go-v2 clients cannot tell it from AWS. It is streamhub's own AWS stand-in for
// tests, benchmarks and `streamhub dev`.
//
// Why our own server: AWS DynamoDB Local (the real peer, see DESIGN.md "Real peers")
// proves the bridge reads genuine stream records, but it has one shard per stream, writes
// a few hundred items a second, and cannot split a shard, trim a stream, expire
// iterators or throttle on demand. Those are exactly the events that break stream
// readers in production: a shard split while its parent is being read, records trimmed
// before a reader got to them, an iterator that outlived its 15 minutes, a burst of
// LimitExceededException. This server produces each of them when a test asks, with the
// wire format, error shapes and HTTP status codes of AWS, so the SDK's typed errors and
// its retryer behave as they do against AWS.
//
// # Protocol
//
// The server speaks AWS JSON 1.0 over HTTP POST at "/": X-Amz-Target
// "DynamoDBStreams_20120810.<Op>" (ListStreams, DescribeStream, GetShardIterator,
// GetRecords) and "DynamoDB_20120810.<Op>" (DescribeTable, ListTables, PutItem,
// DeleteItem, GetItem) on the same URL, so one endpoint serves both clients as DynamoDB
// Local does. Responses carry X-Amzn-Requestid and X-Amz-Crc32 (the DynamoDB client
// validates it). Signatures are not checked, but the access key id of every request is
// recorded (AccessKeys). Errors use AWS's shape, {"__type":
// "com.amazonaws.dynamodb.v20120810#<Code>","message":"…"}, with status 400 for client
// errors and 500 for InternalServerError.
//
// # Model
//
// A table created with CreateTable has one stream whose initial open shards divide a
// 64-bit hash space evenly. Every change of an item (the Go control API or the DynamoDB
// data plane) becomes one stream record in the open shard whose hash range holds the
// item's hash key, so the changes of one item stay in order, also across SplitShard
// (the parent is closed and its children each take half of its range; parent records
// precede child records). Sequence numbers are 21-digit decimals, beyond 64 bits and
// strictly increasing across the stream. Records are encoded once when appended, so a
// GetRecords of 1000 records costs little more than copying bytes.
//
// GetRecords returns records in the AWS GetRecords shape (no eventSourceARN; TTL
// deletes carry userIdentity {"PrincipalId","Type"} as the Streams API spells it). The
// Change the Go API returns for each write holds the same record in the shape AWS Lambda
// receives (with eventSourceARN and userIdentity {"principalId","type"}), which is the
// exact value the bridge writes to the raw CDC topic for it.
//
// Faults on demand: SetFaults (throttles and 500s at a rate), ExpireIterators, Trim,
// SplitShard, a server clock (WithClock) that ages iterators (WithIteratorTTL) and
// records (WithRetention).
package ddbtest
