// Package snapshot writes full snapshots of a table's latest state to the lake: on a
// schedule, the whole compacted table topic ("<group>-table") is read up to the offsets it
// ended at when the snapshot started, the last value of every key is kept, and the items
// are written as Parquet, sorted by item key:
//
//	<prefix>/state/<table>/snapshot=2006-01-02T15-04-05Z/part-00000.parquet
//	<prefix>/state/<table>/snapshot=2006-01-02T15-04-05Z/part-00001.parquet   (past RowsPerPart rows)
//	<prefix>/state/<table>/snapshot=2006-01-02T15-04-05Z/_SUCCESS             (written last)
//
// This is the daily dimension table analysts load. A reader takes the newest folder that
// has a _SUCCESS marker; a folder without one is a snapshot that failed or is still being
// written. The columns are described in SCHEMA.md.
//
// The same topic content always gives byte-identical parts: the rows are sorted by key and
// no wall-clock time goes into a part (the snapshot time is only in the folder name and
// in _SUCCESS).
package snapshot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamhub/streamhub/emitters/lake"
	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/topology"
)

// Defaults of Options.
const (
	// DefaultRowsPerPart is the most rows one part file holds.
	DefaultRowsPerPart = 1_000_000
	// DefaultCompression is the Parquet compression of the parts.
	DefaultCompression = topology.ParquetZstd
)

// TimestampLayout formats the snapshot time (UTC, whole seconds) in the folder name
// "snapshot=<timestamp>". It has no colons, so it is safe in S3 keys, in Hive-style
// partition values and on every file system.
const TimestampLayout = "2006-01-02T15-04-05Z"

// SuccessName is the marker object written after every part of a snapshot. Its body is
// a JSON manifest of the snapshot (see SCHEMA.md).
const SuccessName = "_SUCCESS"

// ErrSnapshotExists is returned by Take when the snapshot folder for its timestamp
// already holds objects: a folder is written once, so a stale part can never sit next to
// a newer _SUCCESS.
var ErrSnapshotExists = errors.New("snapshot: folder already exists")

// Options configure Take and Run.
type Options struct {
	// Conn connects to Kafka; required.
	Conn *kafka.Conn
	// Table is the table whose latest state (Table.TableTopic()) is written; Name, Keys
	// and Group are required.
	Table topology.Table
	// Store receives the parts and the _SUCCESS marker; required.
	Store lake.Store
	// Prefix is prepended to every object key ("" for the store's root).
	Prefix string
	// Compression of the parts: "zstd" (default) or "snappy".
	Compression string
	// RowsPerPart is the most rows in one part; default DefaultRowsPerPart.
	RowsPerPart int
	// IncludeDeleted writes tombstoned items (state.Value.Deleted) as rows with
	// deleted=true and a null item. By default they are left out. Keys removed from the
	// topic (a record with a nil value) are never written.
	IncludeDeleted bool
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives warnings (corrupt values) and, from Run, each result; default
	// slog.Default().
	Logger *slog.Logger
	// Registry, when not nil, gets the snapshot metrics. Take and Run may share one
	// registry across calls and tables.
	Registry prometheus.Registerer

	// sleep waits d or until ctx ends (tests replace it together with Now); default a
	// real timer.
	sleep func(ctx context.Context, d time.Duration) error
}

// Result describes one snapshot written.
type Result struct {
	// Table is the table's name.
	Table string
	// Timestamp is the snapshot time in the folder name (UTC, whole seconds).
	Timestamp time.Time
	// Rows is the number of rows written across all parts.
	Rows int
	// Parts are the store keys of the parts, in order. An empty table has one part
	// without rows.
	Parts []string
	// Corrupt is the number of items whose latest value could not be decoded; they are
	// left out of the snapshot.
	Corrupt int
	// Deleted is the number of tombstoned items seen: left out, or written as rows with
	// IncludeDeleted.
	Deleted int
	// Duration is how long the snapshot took, from its start to the _SUCCESS marker.
	Duration time.Duration
}

// withDefaults checks the options and fills in the defaults.
func (o Options) withDefaults() (Options, error) {
	var errs []error
	if o.Conn == nil {
		errs = append(errs, errors.New("Conn is nil"))
	}
	if o.Store == nil {
		errs = append(errs, errors.New("Store is nil"))
	}
	if o.Table.Name == "" {
		errs = append(errs, errors.New("Table.Name is empty"))
	} else if strings.ContainsAny(o.Table.Name, "/\\") || o.Table.Name == "." || o.Table.Name == ".." {
		errs = append(errs, fmt.Errorf("Table.Name %q cannot be a path segment", o.Table.Name))
	}
	if o.Table.Group == "" {
		errs = append(errs, errors.New("Table.Group is empty (the table topic is <group>-table)"))
	}
	if len(o.Table.Keys) == 0 {
		errs = append(errs, errors.New("Table.Keys is empty"))
	}
	switch o.Compression {
	case "":
		o.Compression = DefaultCompression
	case topology.ParquetZstd, topology.ParquetSnappy:
	default:
		errs = append(errs, fmt.Errorf("Compression %q: want zstd or snappy", o.Compression))
	}
	switch {
	case o.RowsPerPart == 0:
		o.RowsPerPart = DefaultRowsPerPart
	case o.RowsPerPart < 0:
		errs = append(errs, fmt.Errorf("RowsPerPart %d is negative", o.RowsPerPart))
	}
	if len(errs) > 0 {
		return o, fmt.Errorf("snapshot: %w", errors.Join(errs...))
	}
	o.Prefix = strings.Trim(o.Prefix, "/")
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.sleep == nil {
		o.sleep = sleep
	}
	return o, nil
}

// Folder is the store key prefix of the snapshot of table taken at ts, without a
// trailing slash: "<prefix>/state/<table>/snapshot=<timestamp>".
func Folder(prefix, table string, ts time.Time) string {
	folder := "state/" + table + "/snapshot=" + ts.UTC().Format(TimestampLayout)
	if prefix = strings.Trim(prefix, "/"); prefix != "" {
		return prefix + "/" + folder
	}
	return folder
}

// partName is the object name of the i-th part (from 0).
func partName(i int) string { return fmt.Sprintf("part-%05d.parquet", i) }

// Take writes one snapshot of opts.Table now and returns what it wrote. It reads the
// table topic from the start of every partition to the offsets the topic ended at when
// the snapshot started (read_committed: aborted transactions are never seen), keeps the
// last value of every key (a nil value deletes the key), and writes the parts and then
// _SUCCESS. A value that cannot be decoded is counted in Result.Corrupt and logged, and
// its item is left out; it does not fail the snapshot.
func Take(ctx context.Context, opts Options) (Result, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return Result{}, err
	}
	return take(ctx, o, newMetrics(o.Registry))
}

func take(ctx context.Context, o Options, m *metrics) (Result, error) {
	start := o.Now()
	res, err := write(ctx, o, m, start)
	res.Duration = o.Now().Sub(start)
	if err != nil && ctx.Err() != nil {
		return res, err // stopped, not failed: not counted
	}
	m.observe(o.Table.Name, res, err)
	return res, err
}

// Run takes a snapshot at once and then at every multiple of every since the Unix epoch
// (every: 24h gives one snapshot at each UTC midnight), until ctx ends; then it returns
// nil. A failed snapshot is logged and counted, and the next one happens on schedule.
// every must be at least a second, the resolution of the folder names.
func Run(ctx context.Context, opts Options, every time.Duration) error {
	if every < time.Second {
		return fmt.Errorf("snapshot: interval %v is under a second, the resolution of snapshot folder names", every)
	}
	o, err := opts.withDefaults()
	if err != nil {
		return err
	}
	m := newMetrics(o.Registry)
	log := o.Logger.With("table", o.Table.Name)
	log.Info("snapshots starting", "every", every, "topic", o.Table.TableTopic())
	var last time.Time
	for {
		res, err := take(ctx, o, m)
		if ctx.Err() != nil {
			log.Info("snapshots stopped")
			return nil
		}
		if err != nil {
			log.Error("snapshot failed", "error", err, "duration", res.Duration)
		} else {
			log.Info("snapshot written", "timestamp", res.Timestamp.Format(TimestampLayout),
				"rows", res.Rows, "parts", len(res.Parts), "corrupt", res.Corrupt,
				"deleted", res.Deleted, "duration", res.Duration)
			last = res.Timestamp
		}
		// The next tick after now, and after the last snapshot's second, so a clock
		// that stands still (or steps back) never writes the same folder twice.
		now := o.Now()
		next := nextTick(now, every)
		for !next.After(last) {
			next = next.Add(every)
		}
		if err := o.sleep(ctx, next.Sub(now)); err != nil {
			log.Info("snapshots stopped")
			return nil
		}
	}
}

// nextTick is the first multiple of every since the Unix epoch strictly after t.
func nextTick(t time.Time, every time.Duration) time.Time {
	ns, d := t.UnixNano(), int64(every)
	q := ns / d
	if ns < 0 && ns%d != 0 {
		q-- // floor for times before 1970
	}
	return time.Unix(0, (q+1)*d).UTC()
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(max(d, 0))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// join builds a store key from a folder and a name.
func join(folder, name string) string { return path.Join(folder, name) }

// firstErr picks the error to report from two: a context error when the context ended.
func firstErr(ctx context.Context, err error) error {
	if ce := ctx.Err(); ce != nil && !errors.Is(err, ce) {
		return fmt.Errorf("%w (%v)", ce, err)
	}
	return err
}
