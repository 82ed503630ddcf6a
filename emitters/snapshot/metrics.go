package snapshot

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the snapshot metrics, by table.
type metrics struct {
	runs    *prometheus.CounterVec   // table, outcome: ok, error
	rows    *prometheus.GaugeVec     // table
	seconds *prometheus.HistogramVec // table
	corrupt *prometheus.CounterVec   // table
}

// newMetrics registers the metrics on reg, or reuses those already registered there (by
// an earlier Take, or Run for another table); a nil reg keeps them unregistered.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_snapshot_runs_total",
			Help: "State snapshots attempted, by table and outcome (ok, error).",
		}, []string{"table", "outcome"}),
		rows: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "streamhub_snapshot_rows",
			Help: "Rows written by the last successful state snapshot of the table.",
		}, []string{"table"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "streamhub_snapshot_seconds",
			Help:    "Duration of successful state snapshots, from the start of the read to the _SUCCESS marker.",
			Buckets: []float64{0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200},
		}, []string{"table"}),
		corrupt: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_snapshot_corrupt_total",
			Help: "State values that could not be decoded and were left out of a snapshot.",
		}, []string{"table"}),
	}
	if reg != nil {
		m.runs = register(reg, m.runs)
		m.rows = register(reg, m.rows)
		m.seconds = register(reg, m.seconds)
		m.corrupt = register(reg, m.corrupt)
	}
	return m
}

// register registers c, or returns the collector of the same description that reg
// already holds.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

// observe records the outcome of one snapshot.
func (m *metrics) observe(table string, res Result, err error) {
	if err != nil {
		m.runs.WithLabelValues(table, "error").Inc()
		return
	}
	// Corrupt values are counted once per written snapshot, so a failed attempt and
	// its retry do not count the same values twice.
	m.corrupt.WithLabelValues(table).Add(float64(res.Corrupt))
	m.runs.WithLabelValues(table, "ok").Inc()
	m.rows.WithLabelValues(table).Set(float64(res.Rows))
	m.seconds.WithLabelValues(table).Observe(res.Duration.Seconds())
}
