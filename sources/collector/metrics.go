package collector

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the collector's Prometheus metrics (HTTP path and events processor).
// Source and event labels take only names the topology declares (keys, events, routes);
// anything else is "other", so that clients cannot grow the series without bound.
type Metrics struct {
	Accepted     *prometheus.CounterVec
	Rejected     *prometheus.CounterVec
	Requests     *prometheus.CounterVec
	Latency      prometheus.Histogram
	RequestBytes prometheus.Histogram
	BatchEvents  prometheus.Histogram
	Commit       prometheus.Histogram
	Transactions *prometheus.CounterVec
	GroupSize    prometheus.Histogram
	Queue        prometheus.Gauge
	// Lag is the events processor's: records of an input topic past the last one it
	// fetched, summed over the partitions this instance owns.
	Lag *prometheus.GaugeVec
}

// NewMetrics registers the collector metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_collector_events_accepted_total",
			Help: "Events committed to their topics, by source, event name and path (http, kafka: the events processor).",
		}, []string{"source", "event", "path"}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_collector_events_rejected_total",
			Help: "Events not accepted, by source, event name, reason and path; all but forbidden and limit ones are in the DLQ.",
		}, []string{"source", "event", "reason", "path"}),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_collector_requests_total",
			Help: "HTTP requests to /v1/events by status code.",
		}, []string{"code"}),
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "streamhub_collector_request_seconds",
			Help:    "Time from a request's arrival to its answer, Kafka commit included.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		RequestBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "streamhub_collector_request_bytes",
			Help:    "Request body sizes as received (before gzip decoding).",
			Buckets: prometheus.ExponentialBuckets(256, 4, 9),
		}),
		BatchEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "streamhub_collector_request_events",
			Help:    "Events per request.",
			Buckets: []float64{1, 5, 10, 50, 100, 250, 500, 1000, 5000},
		}),
		Commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "streamhub_collector_commit_seconds",
			Help:    "Kafka transaction latency: first produce to committed (acks=all).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		Transactions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_collector_transactions_total",
			Help: "Kafka transactions by outcome (committed, aborted).",
		}, []string{"outcome"}),
		GroupSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "streamhub_collector_transaction_requests",
			Help:    "Requests sharing one Kafka transaction (group commit).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128},
		}),
		Queue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "streamhub_collector_queue_events",
			Help: "Events waiting for their Kafka transaction; at collector.max_in_flight requests get 429.",
		}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "streamhub_collector_consumer_lag_records",
			Help: "Events processor: records of an input topic past the last one fetched, summed over the partitions this instance owns.",
		}, []string{"topic"}),
	}
	reg.MustRegister(m.Accepted, m.Rejected, m.Requests, m.Latency, m.RequestBytes, m.BatchEvents,
		m.Commit, m.Transactions, m.GroupSize, m.Queue, m.Lag)
	return m
}
