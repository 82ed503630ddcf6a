package api

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the view API's Prometheus metrics.
type Metrics struct {
	Lookups  *prometheus.CounterVec
	Latency  *prometheus.HistogramVec
	Lag      *prometheus.GaugeVec
	Requests *prometheus.CounterVec
}

// NewMetrics registers the view API metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_view_lookups_total",
			Help: "View lookups, by table, operation (item, items) and result (found, not_found, error).",
		}, []string{"table", "op", "result"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "streamhub_view_lookup_seconds",
			Help:    "Time to answer a view lookup, by table and operation.",
			Buckets: []float64{1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 0.1, 0.5, 1},
		}, []string{"table", "op"}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "streamhub_view_lag_records",
			Help: "Records of the table topic the view has not applied yet, summed over partitions.",
		}, []string{"table"}),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_api_requests_total",
			Help: "HTTP requests to the view API, by route and status code.",
		}, []string{"route", "code"}),
	}
	reg.MustRegister(m.Lookups, m.Latency, m.Lag, m.Requests)
	return m
}
