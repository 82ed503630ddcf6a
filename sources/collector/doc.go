// Package collector is the HTTP event collector (`streamhub collect`): apps, game clients
// and services POST their events, each is checked against the standard envelope and its
// event's JSON Schema, and valid events are in Kafka before the client hears "accepted".
//
// # Protocol
//
// POST /v1/events with a JSON array of events, one event object, or NDJSON
// (Content-Type application/x-ndjson, or detected in a JSON body: several objects, each
// starting on its own line). Content-Encoding: gzip is optional; the size limits apply to
// the decoded body too. Authentication: "Authorization: Bearer <key>" or "X-API-Key:
// <key>"; a key of collector.keys sends for one source and a set of event names, a
// collector.tokens entry sends anything, and with neither configured the collector is
// open.
//
// Answers:
//
//	200 {"accepted":N,"rejected":M,"errors":[{"index":i,"event_id":"…","reason":"…","message":"…"}]}
//	    after Kafka committed every accepted event and every rejected one's DLQ record
//	400 {"error":"…","reason":"bad_body"}      the body cannot be read; kept in the DLQ whole
//	401 reason unauthorized                     no key, or an unknown one
//	403 {"accepted":0,"rejected":N,"errors":[…]} an event name or source the key may not send;
//	    errors lists those indexes; nothing of the request is kept
//	413 reason body_too_large | too_many_events | event_too_large
//	415 reason unsupported_media_type | unsupported_encoding
//	429 reason queue_full, Retry-After          collector.max_in_flight events already wait
//	503 reason kafka_unavailable | shutting_down, Retry-After
//	    nothing of the request is visible to read_committed readers; send it again
//
// Rejection reasons of single events: invalid_json, not_an_object, invalid_envelope,
// schema_violation, bad_topic.
//
// # Records
//
// Topic: the first matching collector.routes entry, else "<env>.<source>.<event_name>"
// with every character of source and event name other than ASCII letters, digits, '_'
// and '-' replaced by '_' (topology.Collector.EventTopic). Missing topics are created
// with collector.partitions partitions.
//
// Key: user.id, else device.id, else event_id, so that one user's events stay in order
// on one partition (Kafka's murmur2 partitioner, like every streamhub producer).
//
// Value: the envelope as sent (fields in envelope order, payload compacted) plus
// "received_at" (RFC 3339, UTC, nanoseconds) and "client" {"ip","user_agent"} (ip per
// collector.client_address; X-Forwarded-For only from collector.trusted_proxies).
//
// Headers: streamhub.event_name, streamhub.event_id, streamhub.source,
// streamhub.received_at.
//
// DLQ records (collector.dlq_topic) hold the event exactly as sent (or the whole body for
// bad_body), keyed by its event_id when one could be read, with streamhub.dlq.reason and
// streamhub.dlq.error (the processors' DLQ headers), streamhub.dlq.index,
// streamhub.collector.path (http or kafka), streamhub.collector.key_source, and what
// could be read of the event's name, ID and source and the client.
//
// # Exactly-once acceptance
//
// A client that hears 503 sends the batch again. So each request's records go into one
// Kafka transaction and the answer waits for its commit. For throughput, requests share
// transactions (group commit): collector.producers workers, each with its own
// transactional client (ID "<collector.group>.collector.<instance>-<n>"), take the first
// waiting request, wait collector.linger for more, produce them all (idempotent, acks=all)
// and commit; every request of the group hears the one outcome. A transaction not
// committed within collector.produce_timeout is aborted (or its client dropped, and the
// next client with the same ID fences it), and its requests get 503. The one case that
// can double a batch is a commit that happened with its answer lost (the request heard
// 503): the copies have the same event_id.
//
// The events processor (processors.Events) applies the same validation and routing to
// envelopes other producers write to collector.input_topics.
package collector
