package dynamodb

import "github.com/prometheus/client_golang/prometheus"

// metrics are the bridge's Prometheus metrics, named streamhub_bridge_<what>_<unit>.
// Per-shard series (records, iterator age) are deleted when the shard ends or its lease
// moves: DynamoDB rolls shards over every few hours, and series for dead shards would
// pile up.
type metrics struct {
	records        *prometheus.CounterVec   // table
	bytes          *prometheus.CounterVec   // table
	shardRecords   *prometheus.CounterVec   // table, shard
	iteratorAge    *prometheus.GaugeVec     // table, shard
	getRecords     *prometheus.HistogramVec // table
	apiErrors      *prometheus.CounterVec   // table, op, kind
	retries        *prometheus.CounterVec   // table, op
	shards         *prometheus.GaugeVec     // table, state (open, closed: from DescribeStream)
	owned          *prometheus.GaugeVec     // table: shards this instance reads now
	leases         prometheus.Gauge
	checkpoints    *prometheus.CounterVec // table
	transactions   *prometheus.CounterVec // outcome: committed, aborted
	txnSeconds     prometheus.Histogram
	dataLoss       *prometheus.CounterVec // table, reason
	dlq            *prometheus.CounterVec // table, reason
	shardsFinished *prometheus.CounterVec // table
	streamChanges  *prometheus.CounterVec // table
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_bridge_records_total",
			Help: "Stream records committed to the CDC topic, by table.",
		}, []string{"table"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_bridge_bytes_total",
			Help: "Bytes of record values committed to the CDC topic, by table.",
		}, []string{"table"}),
		shardRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_bridge_shard_records_total",
			Help: "Stream records committed, by table and shard this instance reads (series removed when the shard ends or moves).",
		}, []string{"table", "shard"}),
		iteratorAge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "streamhub_bridge_iterator_age_seconds",
			Help: "Now minus the ApproximateCreationDateTime of the last record read from a shard; 0 once the shard is caught up.",
		}, []string{"table", "shard"}),
		getRecords: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "streamhub_bridge_getrecords_seconds",
			Help:    "GetRecords call latency, by table.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"table"}),
		apiErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_bridge_api_errors_total",
			Help: "DynamoDB Streams API errors, by table, operation and kind (throttle, server, expired_iterator, trimmed, not_found, network, other).",
		}, []string{"table", "op", "kind"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_bridge_retries_total",
			Help: "Calls retried after a backoff, by table and operation.",
		}, []string{"table", "op"}),
		shards: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "streamhub_bridge_shards",
			Help: "Shards of the stream by state (open, closed), as DescribeStream lists them.",
		}, []string{"table", "state"}),
		owned: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "streamhub_bridge_shards_owned",
			Help: "Shards this instance is reading now.",
		}, []string{"table"}),
		leases: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "streamhub_bridge_leases",
			Help: "Checkpoint partitions (leases) this instance owns.",
		}),
		checkpoints: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_bridge_checkpoints_total",
			Help: "Shard checkpoints committed, by table.",
		}, []string{"table"}),
		transactions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_bridge_transactions_total",
			Help: "Kafka transactions, by outcome (committed, aborted).",
		}, []string{"outcome"}),
		txnSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "streamhub_bridge_transaction_seconds",
			Help:    "Time to produce a batch and commit its transaction.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}),
		dataLoss: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_bridge_data_loss_total",
			Help: "Events where stream records were lost before the bridge read them, by table and reason (trimmed, shard_gone).",
		}, []string{"table", "reason"}),
		dlq: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_bridge_dlq_total",
			Help: "Stream records sent to the DLQ instead of the CDC topic, by table and reason.",
		}, []string{"table", "reason"}),
		shardsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_bridge_shards_finished_total",
			Help: "Closed shards read to their end by this instance, by table.",
		}, []string{"table"}),
		streamChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhub_bridge_stream_changes_total",
			Help: "New streams found for a table (deleted and created again, or its stream disabled and enabled), by table.",
		}, []string{"table"}),
	}
	reg.MustRegister(m.records, m.bytes, m.shardRecords, m.iteratorAge, m.getRecords, m.apiErrors,
		m.retries, m.shards, m.owned, m.leases, m.checkpoints, m.transactions, m.txnSeconds,
		m.dataLoss, m.dlq, m.shardsFinished, m.streamChanges)
	return m
}
