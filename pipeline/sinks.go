package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/streamhub/streamhub/emitters"
	"github.com/streamhub/streamhub/emitters/lake"
	"github.com/streamhub/streamhub/emitters/postgres"
	"github.com/streamhub/streamhub/emitters/redshift"
	"github.com/streamhub/streamhub/emitters/snapshot"
	"github.com/streamhub/streamhub/emitters/snowflake"
	"github.com/streamhub/streamhub/topology"
)

// snapshotJob takes snapshots of one table for one lake sink.
type snapshotJob struct {
	opts  snapshot.Options
	every time.Duration
}

func (j snapshotJob) run(ctx context.Context) error { return snapshot.Run(ctx, j.opts, j.every) }

// buildSinks makes a flush loop for every sink's raw topics and a snapshot job for every
// lake sink's tables.
func (p *Pipeline) buildSinks(ctx context.Context, cfg *topology.Config) error {
	m := emitters.NewMetrics(p.Registry)
	for i, s := range cfg.Sinks {
		switch s.Type {
		case topology.SinkPostgres, topology.SinkRedshift, topology.SinkSnowflake:
			if err := p.buildWarehouse(ctx, cfg, s, m); err != nil {
				return fmt.Errorf("sinks[%d] (%s): %w", i, s.Name, err)
			}
			continue
		}
		if !s.Lake() {
			return fmt.Errorf("sinks[%d] (%s): unknown sink type %s", i, s.Name, s.Type)
		}
		store, err := p.lakeStore(ctx, s)
		if err != nil {
			return fmt.Errorf("sinks[%d] (%s): %w", i, s.Name, err)
		}
		if len(s.Topics) > 0 {
			sink, err := lake.New(lake.Options{
				Name: s.Name, Store: store, Prefix: s.Prefix, Format: s.Format,
				ParquetCompression: s.ParquetCompression, PartitionTime: s.PartitionTime,
				Manifest: s.Manifest, ManifestBucket: s.Bucket,
			})
			if err != nil {
				return fmt.Errorf("sinks[%d] (%s): %w", i, s.Name, err)
			}
			p.closers = append(p.closers, sink.Close)
			loop, err := emitters.New(emitters.Options{
				Name: s.Name, Group: fmt.Sprintf("%s.streamhub.sink.%s", cfg.Env, s.Name),
				Conn: p.conn, Topics: s.Topics, Buffer: s.Buffer, DLQTopic: cfg.Processor.DLQTopic,
				Sink: sink, Metrics: m, Logger: p.log, ShutdownTimeout: cfg.Processor.ShutdownTimeout,
			})
			if err != nil {
				return fmt.Errorf("sinks[%d] (%s): %w", i, s.Name, err)
			}
			p.Sinks = append(p.Sinks, loop)
		}
		if s.SnapshotEvery > 0 {
			for _, name := range s.Tables {
				t, _ := cfg.Table(name)
				p.snapshots = append(p.snapshots, snapshotJob{every: s.SnapshotEvery, opts: snapshot.Options{
					Conn: p.conn, Table: t, Store: store, Prefix: s.Prefix, Compression: s.ParquetCompression,
					Logger: p.log.With("sink", s.Name), Registry: p.Registry,
				}})
			}
		}
	}
	return nil
}

// buildWarehouse makes the flush loop of a PostgreSQL, Redshift or Snowflake sink: its tables' state
// topics upserted into state tables, its raw topics appended to event tables; the sink
// keeps its offsets in the same transactions, and the loop starts from them.
func (p *Pipeline) buildWarehouse(ctx context.Context, cfg *topology.Config, s topology.Sink, m *emitters.Metrics) error {
	var tables []topology.Table
	topics := append([]string(nil), s.Topics...)
	for _, name := range s.Tables {
		t, _ := cfg.Table(name)
		tables = append(tables, t)
		topics = append(topics, t.TableTopic())
	}
	var sink interface {
		emitters.OffsetKeeper
	}
	log := p.log.With("sink", s.Name)
	switch s.Type {
	case topology.SinkSnowflake:
		sc, err := snowflake.ConfigFromDSN(s.DSN)
		if err != nil {
			return err
		}
		if s.Schema != "" {
			sc.Schema = s.Schema
		}
		mapping, err := snowflake.ParseTopicToTable(s.TopicToTable)
		if err != nil {
			return fmt.Errorf("topic_to_table: %w", err)
		}
		db, err := snowflake.Open(sc)
		if err != nil {
			return err
		}
		sf, err := snowflake.New(ctx, snowflake.Options{
			Name: s.Name, Schema: sc.Schema, Deletes: s.Deletes, Tables: tables, Topics: s.Topics,
			TopicToTable: mapping, DB: db, Logger: log, Registry: p.Registry,
		})
		if err != nil {
			db.Close()
			return err
		}
		p.closers = append(p.closers, db.Close)
		sink = sf
	case topology.SinkPostgres:
		pg, err := postgres.New(ctx, postgres.Options{
			Name: s.Name, DSN: s.DSN, Schema: s.Schema, Deletes: s.Deletes, Tables: tables, Topics: s.Topics,
			Logger: log, Registry: p.Registry,
		})
		if err != nil {
			return err
		}
		sink = pg
	default:
		stage, err := p.lakeStore(ctx, s)
		if err != nil {
			return fmt.Errorf("s3 stage: %w", err)
		}
		api, direct, err := redshift.ExecFromDSN(ctx, s.DSN, p.opts.AWS)
		if err != nil {
			return err
		}
		rs, err := redshift.New(ctx, redshift.Options{
			Name: s.Name, Schema: s.Schema, Deletes: s.Deletes, Tables: tables, Topics: s.Topics,
			Stage: stage, Bucket: s.Bucket, Prefix: s.Prefix, IAMRole: s.CopyRoleARN, Format: redshift.FormatJSON,
			DataAPI: api, Direct: direct, Logger: log, Registry: p.Registry,
		})
		if err != nil {
			return err
		}
		sink = rs
	}
	loop, err := emitters.New(emitters.Options{
		Name: s.Name, Group: fmt.Sprintf("%s.streamhub.sink.%s", cfg.Env, s.Name),
		Conn: p.conn, Topics: topics, Buffer: s.Buffer, DLQTopic: cfg.Processor.DLQTopic,
		Sink: sink, Metrics: m, Logger: p.log, ShutdownTimeout: cfg.Processor.ShutdownTimeout,
	})
	if err != nil {
		sink.Close()
		return err
	}
	p.Sinks = append(p.Sinks, loop)
	p.closers = append(p.closers, sink.Close)
	return nil
}

func (p *Pipeline) lakeStore(ctx context.Context, s topology.Sink) (lake.Store, error) {
	if s.Type == topology.SinkFile {
		return lake.NewFileStore(s.Dir), nil
	}
	return lake.NewS3Store(ctx, lake.S3Options{
		Bucket: s.Bucket, Region: s.Region, Endpoint: s.Endpoint, RoleARN: s.RoleARN, PathStyle: s.PathStyle,
		AWS: p.opts.AWS,
	})
}
