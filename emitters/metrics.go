package emitters

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the flush loop's Prometheus metrics; one Metrics serves every sink of a
// process, the sink is a label.
type Metrics struct {
	flushes  *prometheus.CounterVec   // sink, outcome
	records  *prometheus.CounterVec   // sink, topic
	bytes    *prometheus.CounterVec   // sink, topic
	seconds  *prometheus.HistogramVec // sink
	buffered *prometheus.GaugeVec     // sink
	bufBytes *prometheus.GaugeVec     // sink
	retries  *prometheus.CounterVec   // sink
	dlq      *prometheus.CounterVec   // sink, reason
	lag      *prometheus.GaugeVec     // sink, topic
}

// NewMetrics registers the flush loop's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		flushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_sink_flushes_total",
			Help: "Flushes by sink and outcome (ok, error: retried).",
		}, []string{"sink", "outcome"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_sink_records_total",
			Help: "Records flushed and committed, by sink and source topic.",
		}, []string{"sink", "topic"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_sink_bytes_total",
			Help: "Bytes of record keys and values flushed and committed, by sink and source topic.",
		}, []string{"sink", "topic"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "streamhub_sink_flush_seconds",
			Help:    "Time to flush one batch (sink write, DLQ, offset commit).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"sink"}),
		buffered: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "streamhub_sink_buffered_records",
			Help: "Records waiting in the sink's buffers.",
		}, []string{"sink"}),
		bufBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "streamhub_sink_buffered_bytes",
			Help: "Bytes of keys and values waiting in the sink's buffers.",
		}, []string{"sink"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_sink_retries_total",
			Help: "Flushes retried after an error, by sink.",
		}, []string{"sink"}),
		dlq: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_sink_dlq_total",
			Help: "Records the sink could not encode, sent to the DLQ, by sink and reason.",
		}, []string{"sink", "reason"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "streamhub_sink_consumer_lag_records",
			Help: "Records in the source topic past the last one the sink fetched, summed over the partitions this instance owns (fetched but not yet flushed: streamhub_sink_buffered_records).",
		}, []string{"sink", "topic"}),
	}
	reg.MustRegister(m.flushes, m.records, m.bytes, m.seconds, m.buffered, m.bufBytes, m.retries, m.dlq, m.lag)
	return m
}
