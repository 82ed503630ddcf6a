package processors

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of one CDC record, the values of the "outcome" label.
const (
	OutcomeApplied   = "applied"   // the change was newer than the stored state and replaced it
	OutcomeStale     = "stale"     // an older change arrived after a newer one; ignored
	OutcomeDuplicate = "duplicate" // the very change already applied; ignored
	OutcomeInvalid   = "invalid"   // the record could not be parsed; sent to the DLQ
	OutcomeRekeyed   = "rekeyed"   // wrong message key or partition; re-sent under the item key
)

// Metrics are the processor's Prometheus metrics. One Metrics serves every table of a
// process; the table is a label.
type Metrics struct {
	Events     *prometheus.CounterVec
	Process    *prometheus.HistogramVec
	EndToEnd   *prometheus.HistogramVec
	Keys       *prometheus.GaugeVec
	Lag        *prometheus.GaugeVec
	Partitions *prometheus.GaugeVec
}

// NewMetrics registers the processor metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_processor_events_total",
			Help: "CDC records processed, by table and outcome (applied, stale, duplicate, invalid, rekeyed).",
		}, []string{"table", "outcome"}),
		Process: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "streamhub_processor_process_seconds",
			Help:    "Time spent handling one CDC record in the processor (parse, compare, store).",
			Buckets: []float64{1e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2, 0.1},
		}, []string{"table"}),
		EndToEnd: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "streamhub_processor_end_to_end_seconds",
			Help:    "Time from a change's ApproximateCreationDateTime (set by DynamoDB) to its application to the latest-state table.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800},
		}, []string{"table"}),
		Keys: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "streamhub_processor_state_keys",
			Help: "Live (not deleted) items in the latest-state partitions this instance owns.",
		}, []string{"table"}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "streamhub_processor_consumer_lag_records",
			Help: "Records in the CDC topic not yet processed, summed over the partitions this instance owns.",
		}, []string{"table"}),
		Partitions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "streamhub_processor_partitions",
			Help: "CDC topic partitions this instance owns.",
		}, []string{"table"}),
	}
	reg.MustRegister(m.Events, m.Process, m.EndToEnd, m.Keys, m.Lag, m.Partitions)
	return m
}
