package main

const collectSummary = `Runs the HTTP event collector of the topology's collector section, and the events
processor when collector.input_topics names topics other producers write envelopes to.

  POST /v1/events        a JSON array of events, one event object, or NDJSON
                         (Content-Type: application/x-ndjson; also detected: objects one per
                         line); Content-Encoding: gzip optional
  Authorization: Bearer <key>  (or X-API-Key: <key>): collector.keys (one source, a set of
                         event names or "*") or collector.tokens (anything); none configured:
                         no authentication
  envelope               event_id (UUID), event_name, occurred_at (RFC 3339), source,
                         app{id,version}, device{id}, user{id}, payload{...} (checked against
                         collector.events[].schema, JSON Schema 2020-12)
  topic                  the first matching collector.routes entry, else
                         <env>.<source>.<event_name> (characters other than letters, digits,
                         '_' and '-' become '_'); created on first use
  answers                200 {"accepted":N,"rejected":M,"errors":[{"index","event_id","reason",
                         "message"}]} once Kafka committed every event (invalid ones are in the
                         DLQ); 400 unreadable body (kept in the DLQ); 401 key; 403 a forbidden
                         event name or source (nothing accepted); 413 body, batch or event over
                         its limit; 415 content type or encoding; 429 queue full; 503 Kafka
                         slow or away: nothing of the request is visible, send it again

Each request's events and DLQ records are written in a Kafka transaction shared with the
requests that arrive within collector.linger (group commit, collector.producers
transactional clients), so a 503 never leaves part of a batch behind. /healthz, /readyz
and /metrics are served on the collector's listener too; on shutdown readiness turns 503
and in-flight requests finish and commit first.`
