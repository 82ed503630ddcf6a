package topology

import (
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// arrow joins the stages of a line in Print.
const arrow = " ─► "

// Print writes the pipeline graph for a person: the Kafka connection, one line per table
// (sources ─► CDC topic ─► table ─► state topic ─► sinks), the raw-topic sinks, each sink's
// target and flush limits, the collector, the API and the DLQ. It never prints secrets
// (passwords, tokens, DSNs). Errors writing to w are ignored; print to a buffer to see them.
func Print(w io.Writer, c *Config) {
	var b strings.Builder
	k := c.Kafka
	if k.Embedded() {
		fmt.Fprintf(&b, "kafka: embedded (%s)", k.EmbeddedListen)
	} else {
		fmt.Fprintf(&b, "kafka: %s (%s)", strings.Join(k.Brokers, ","), security(k))
	}
	fmt.Fprintf(&b, ", replication %d, min.insync %d\n", k.ReplicationFactor, k.MinInsyncReplicas)

	for _, t := range c.Tables {
		var from []string
		for _, s := range c.SourcesOf(t.Name) {
			from = append(from, sourceLabel(s))
		}
		if len(from) == 0 {
			from = []string{"(any producer)"}
		}
		b.WriteString(strings.Join(from, " + "))
		fmt.Fprintf(&b, "%s%s (%s)%stable %s [%s]", arrow, t.Topic, plural(t.Partitions, "partition"), arrow, t.Name, strings.Join(t.Keys, ", "))
		if t.VersionAttribute != "" {
			fmt.Fprintf(&b, " version=%s", t.VersionAttribute)
		}
		fmt.Fprintf(&b, "%s%s (compacted)", arrow, t.TableTopic())
		var to []string
		for _, s := range c.Sinks {
			if contains(s.Tables, t.Name) {
				to = append(to, sinkLabel(s))
			}
		}
		if len(to) > 0 {
			b.WriteString(arrow + strings.Join(to, ", "))
		}
		b.WriteString("\n")
	}
	for _, s := range c.Sinks {
		if len(s.Topics) > 0 {
			fmt.Fprintf(&b, "%s%s%s\n", strings.Join(s.Topics, ", "), arrow, sinkLabel(s))
		}
	}
	for _, s := range c.Sinks {
		fmt.Fprintf(&b, "%s: %s; flush at %d records, %s or %s\n", sinkLabel(s), sinkTarget(s),
			s.Buffer.CountRecords, bytesString(s.Buffer.SizeBytes), durationString(s.Buffer.FlushTime))
	}

	if c.BridgeOn() {
		br := c.Bridge
		fmt.Fprintf(&b, "bridge: group %s, checkpoints in %s (%s, compacted), new shards every %s\n",
			br.Group, br.CheckpointTopic, plural(br.Leases, "lease"), durationString(br.DiscoveryInterval))
	}
	if col := c.Collector; col != nil {
		a := auth(col.Tokens)
		if len(col.Keys) > 0 {
			if len(col.Tokens) == 0 {
				a = plural(len(col.Keys), "key")
			} else {
				a += ", " + plural(len(col.Keys), "key")
			}
		}
		fmt.Fprintf(&b, "collector: %s%s%s.<service>.<event>  (max body %s, auth: %s)\n",
			httpURL(col.Listen), arrow, c.Env, bytesString(col.MaxBodyBytes), a)
		for _, r := range col.Routes {
			fmt.Fprintf(&b, "  route event %s from source %s%s%s\n", orAny(r.Event), orAny(r.Source), arrow, r.Topic)
		}
		if len(col.Events) > 0 {
			names := make([]string, len(col.Events))
			for i, e := range col.Events {
				names[i] = e.Name
				if e.Schema != "" {
					names[i] += " (schema)"
				}
			}
			fmt.Fprintf(&b, "  events: %s\n", strings.Join(names, ", "))
		}
		if len(col.InputTopics) > 0 {
			fmt.Fprintf(&b, "  events processor: %s%sgroup %s, same validation and routing\n",
				strings.Join(col.InputTopics, ", "), arrow, col.Group)
		}
	}
	if c.API.On() {
		fmt.Fprintf(&b, "api: %s  (auth: %s)\n", httpURL(c.API.Listen), auth(c.API.Tokens))
	} else {
		b.WriteString("api: disabled\n")
	}
	if !c.Processor.On() {
		b.WriteString("processor: disabled (no table state is kept)\n")
	}
	if col := c.Collector; col != nil && col.DLQTopic != c.Processor.DLQTopic {
		fmt.Fprintf(&b, "dlq: %s (processor), %s (collector)\n", c.Processor.DLQTopic, col.DLQTopic)
	} else {
		fmt.Fprintf(&b, "dlq: %s\n", c.Processor.DLQTopic)
	}
	io.WriteString(w, b.String())
}

func security(k Kafka) string {
	var parts []string
	if k.TLS != nil {
		parts = append(parts, "tls")
	}
	if s := k.SASL; s != nil {
		m := "sasl " + s.Mechanism
		if s.Mechanism == SASLAWSMSKIAM && s.Region != "" {
			m += " " + s.Region
		}
		parts = append(parts, m)
	}
	if len(parts) == 0 {
		return "plaintext"
	}
	return strings.Join(parts, ", ")
}

// sourceLabel names a source by its DynamoDB table: the one in the stream ARN when given
// (it may differ from the topology's name for the table), and its region when set.
func sourceLabel(s Source) string {
	name := s.Table
	if _, rest, ok := strings.Cut(s.StreamARN, ":table/"); ok {
		name, _, _ = strings.Cut(rest, "/")
	}
	label := s.Type + ":" + name
	if s.Region != "" {
		label += "@" + s.Region
	}
	return label
}

func sinkLabel(s Sink) string { return fmt.Sprintf("sink %s (%s)", s.Name, s.Type) }

// sinkTarget says where a sink writes, without the DSN (it carries passwords).
func sinkTarget(s Sink) string {
	switch s.Type {
	case SinkS3:
		return fmt.Sprintf("s3://%s/%s as %s%s", s.Bucket, s.Prefix, s.Format, snapshots(s))
	case SinkFile:
		return fmt.Sprintf("%s as %s%s", s.Dir, s.Format, snapshots(s))
	}
	target := "default schema"
	if s.Schema != "" {
		target = "schema " + s.Schema
	}
	if s.Bucket != "" {
		target += fmt.Sprintf(", staged in s3://%s/%s", s.Bucket, s.Prefix)
	}
	return target
}

func snapshots(s Sink) string {
	if len(s.Tables) == 0 || s.SnapshotEvery == 0 {
		return ""
	}
	return ", state snapshots every " + durationString(s.SnapshotEvery)
}

func httpURL(listen string) string {
	if host, port, err := net.SplitHostPort(listen); err == nil && host == "" {
		listen = net.JoinHostPort("0.0.0.0", port)
	}
	return "http://" + listen
}

func auth(tokens []string) string {
	if len(tokens) == 0 {
		return "none"
	}
	return plural(len(tokens), "token")
}

func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func bytesString(n int64) string {
	for _, u := range []struct {
		size int64
		name string
	}{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}, {1e9, "GB"}, {1e6, "MB"}, {1e3, "KB"}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d %s", n/u.size, u.name)
		}
	}
	return fmt.Sprintf("%d B", n)
}

// durationString is time.Duration's form without trailing zero units: 1m, 1h30m, 45s.
func durationString(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

func orAny(s string) string {
	if s == "" {
		return "*"
	}
	return s
}
