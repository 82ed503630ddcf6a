package warehouse

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Flush steps (the step label of streamhub_warehouse_flush_step_seconds).
const (
	// StepPrepare converts the records into stage rows (and keeps the newest per key).
	StepPrepare = "prepare"
	StepStage   = "stage"
	StepCopy    = "copy"
	StepUpsert  = "upsert"
	StepOffsets = "offsets"
	StepCommit  = "commit"
)

// Metrics are the warehouse sinks' metrics. Sinks of any target share them: NewMetrics
// on a registry that already holds them returns the registered collectors.
type Metrics struct {
	// Rows counts rows applied per sink, table and kind (insert, update, delete, stale).
	Rows *prometheus.CounterVec
	// StepSeconds times the steps of a flush per sink (prepare, stage, copy, upsert,
	// offsets, commit).
	StepSeconds *prometheus.HistogramVec
	// LoadBytes counts the record bytes loaded into stage tables per sink and table.
	LoadBytes *prometheus.CounterVec
	// Errors counts failed flushes (rolled back; the loop retries) per sink.
	Errors *prometheus.CounterVec
}

// NewMetrics registers the metrics on reg (nil: a private registry).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	return &Metrics{
		Rows: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_warehouse_rows_total",
			Help: "Rows applied to warehouse tables, by kind: insert, update, delete, stale (changed nothing).",
		}, []string{"sink", "table", "kind"})),
		StepSeconds: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "streamhub_warehouse_flush_step_seconds",
			Help:    "Duration of the steps of a warehouse flush: prepare, stage, copy, upsert, offsets, commit.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18),
		}, []string{"sink", "step"})),
		LoadBytes: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_warehouse_load_bytes_total",
			Help: "Record bytes (key and value) loaded into warehouse stage tables.",
		}, []string{"sink", "table"})),
		Errors: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_warehouse_errors_total",
			Help: "Warehouse flushes that failed and were rolled back.",
		}, []string{"sink"})),
	}
}

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
