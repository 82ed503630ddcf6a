package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/streamhub/streamhub/topology"
)

const statusHelp = `Usage: streamhub status -c FILE [flags]

Shows one screen with every stage of the pipeline, refreshed every --interval like top:
bridge (records/s, iterator age, AWS API errors, data loss), processors per table
(events/s in and by outcome, lag), view API (ready, lag, requests), collector
(accepted/rejected events/s, 5xx) and sinks (records/s, last flush, flush errors, lag).

The numbers come from the services' Prometheus /metrics: the topology's api.listen and
collector.listen, and --endpoints for the services started with --ops-listen (bridge,
process, emit). Rates are counter increases between two scrapes divided by the time
between them; an endpoint that does not answer is shown as down, never dropped silently.
Endpoints that turn out to be one process (run: the view API and the collector share a
registry) are counted once.
`

func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status", statusHelp, stderr)
	file := fs.String("c", "", "topology file (its api.listen and collector.listen are scraped)")
	endpoints := fs.String("endpoints", "", "more metrics endpoints, comma-separated host:port or URLs (the --ops-listen of bridge, process and emit)")
	interval := fs.Duration("interval", 2*time.Second, "time between screens, and between the two scrapes a rate needs")
	once := fs.Bool("once", false, "print one screen (two scrapes --interval apart) and exit")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *file == "" && *endpoints == "" {
		fmt.Fprintln(stderr, "-c FILE or --endpoints is required")
		fs.Usage()
		return errUsage
	}
	if *interval <= 0 {
		return fmt.Errorf("--interval: must be positive, got %s", *interval)
	}
	st := &statusState{title: "--endpoints"}
	if *file != "" {
		cfg, err := topology.Load(*file)
		if err != nil {
			return err
		}
		st.fromTopology(cfg)
	}
	for _, e := range strings.Split(*endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			st.add("ops", e)
		}
	}
	timeout := min(max(*interval, time.Second), 10*time.Second)
	st.client = &http.Client{Timeout: timeout}

	if *once {
		prev := st.scrapeAll(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(*interval):
		}
		cur := st.scrapeAll(ctx)
		_, err := io.WriteString(stdout, st.render(prev, cur))
		return err
	}
	clear := isTerminal(stdout)
	var prev *round
	for {
		cur := st.scrapeAll(ctx)
		screen := st.render(prev, cur)
		if clear {
			// Home and erase: the screen is redrawn in place, like top.
			screen = "\x1b[H\x1b[2J" + screen
		} else if prev != nil {
			screen = "\n" + screen
		}
		if _, err := io.WriteString(stdout, screen); err != nil {
			return err
		}
		prev = cur
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(*interval):
		}
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// statusState is what status knows across screens: the endpoints, the tables and sinks the
// topology promises, and when each sink was last seen flushing.
type statusState struct {
	title     string
	endpoints []statusEndpoint
	tables    []string
	sinks     []string
	client    *http.Client
	// lastFlush is when a sink's ok-flush counter was last seen to grow; the metrics
	// carry no flush time, so status can only tell flushes it watched happen.
	lastFlush map[string]time.Time
	flushBase agg
	prevAt    time.Time
	now       func() time.Time
}

type statusEndpoint struct {
	role string // api, collector, ops
	base string // http://host:port
}

func (st *statusState) fromTopology(cfg *topology.Config) {
	st.title = cfg.Path
	for _, t := range cfg.Tables {
		st.tables = append(st.tables, t.Name)
	}
	for _, s := range cfg.Sinks {
		st.sinks = append(st.sinks, s.Name)
	}
	if cfg.API.On() && cfg.API.Listen != "" {
		st.add("api", cfg.API.Listen)
	}
	if cfg.Collector != nil && cfg.Collector.Listen != "" {
		st.add("collector", cfg.Collector.Listen)
	}
}

func (st *statusState) add(role, addr string) {
	base := endpointBase(addr)
	for _, e := range st.endpoints {
		if e.base == base {
			return
		}
	}
	st.endpoints = append(st.endpoints, statusEndpoint{role: role, base: base})
}

// endpointBase turns a listen address into a URL to scrape: a wildcard host is reached
// on loopback, since that is where a listener on every interface surely answers.
func endpointBase(addr string) string {
	if strings.Contains(addr, "://") {
		return strings.TrimSuffix(strings.TrimSuffix(addr, "/"), "/metrics")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// series is one sample: a counter, gauge or untyped value, or a histogram's or summary's
// _count and _sum.
type series struct {
	name   string
	labels map[string]string
	value  float64
}

func (s series) key() string {
	names := make([]string, 0, len(s.labels))
	for k := range s.labels {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(s.name)
	for _, k := range names {
		b.WriteString("|" + k + "=" + s.labels[k])
	}
	return b.String()
}

// scrape is one endpoint's answer at one moment.
type scrape struct {
	ep     statusEndpoint
	at     time.Time
	err    string // down or not a metrics endpoint
	values map[string]series
	// ready is the /readyz status ("ready", "recovering", ...), tables its per-view states.
	ready  string
	tables map[string]string
	// sameAs names the endpoint this one duplicates (one process, one registry).
	sameAs string
	print  string
}

// round is every endpoint scraped once.
type round struct {
	at      time.Time
	scrapes []*scrape
}

func (st *statusState) scrapeAll(ctx context.Context) *round {
	r := &round{at: st.clock()}
	for _, ep := range st.endpoints {
		r.scrapes = append(r.scrapes, st.scrape(ctx, ep))
	}
	seen := map[string]string{}
	for _, s := range r.scrapes {
		if s.err != "" || s.print == "" {
			continue
		}
		if first, ok := seen[s.print]; ok {
			s.sameAs = first
			continue
		}
		seen[s.print] = s.ep.base
	}
	st.trackFlushes(r)
	return r
}

func (st *statusState) clock() time.Time {
	if st.now != nil {
		return st.now()
	}
	return time.Now()
}

func (st *statusState) scrape(ctx context.Context, ep statusEndpoint) *scrape {
	s := &scrape{ep: ep, at: st.clock()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep.base+"/metrics", nil)
	if err != nil {
		s.err = "bad address: " + err.Error()
		return s
	}
	// The text format: promhttp would otherwise pick protobuf or OpenMetrics.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := st.client.Do(req)
	if err != nil {
		s.err = "down: " + shortError(err)
		return s
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.err = fmt.Sprintf("unknown: /metrics answered %s", resp.Status)
		return s
	}
	values, err := parseMetrics(resp.Body)
	if err != nil {
		s.err = "unknown: not Prometheus text: " + shortError(err)
		return s
	}
	s.values = values
	host := strings.TrimPrefix(ep.base, "http://")
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	s.print = fingerprint(host, values)
	s.ready, s.tables = st.readyz(ctx, ep)
	return s
}

func shortError(err error) string {
	msg := err.Error()
	// net/http repeats the method and URL the screen already shows.
	if i := strings.LastIndex(msg, ": "); i >= 0 && strings.HasPrefix(msg, "Get ") {
		msg = msg[i+2:]
	}
	if len(msg) > 80 {
		msg = msg[:77] + "..."
	}
	return msg
}

func (st *statusState) readyz(ctx context.Context, ep statusEndpoint) (string, map[string]string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep.base+"/readyz", nil)
	if err != nil {
		return "", nil
	}
	resp, err := st.client.Do(req)
	if err != nil {
		return "", nil
	}
	defer resp.Body.Close()
	var body struct {
		Status string            `json:"status"`
		Tables map[string]string `json:"tables"`
	}
	if json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body) != nil || body.Status == "" {
		if resp.StatusCode == http.StatusOK {
			return "ready", nil
		}
		return fmt.Sprintf("not ready (%d)", resp.StatusCode), nil
	}
	return body.Status, body.Tables
}

func parseMetrics(r io.Reader) (map[string]series, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	out := map[string]series{}
	put := func(name string, m *dto.Metric, v float64) {
		s := series{name: name, labels: map[string]string{}, value: v}
		for _, l := range m.GetLabel() {
			s.labels[l.GetName()] = l.GetValue()
		}
		out[s.key()] = s
	}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			switch {
			case m.Counter != nil:
				put(name, m, m.GetCounter().GetValue())
			case m.Gauge != nil:
				put(name, m, m.GetGauge().GetValue())
			case m.Untyped != nil:
				put(name, m, m.GetUntyped().GetValue())
			case m.Histogram != nil:
				put(name+"_count", m, float64(m.GetHistogram().GetSampleCount()))
				put(name+"_sum", m, m.GetHistogram().GetSampleSum())
			case m.Summary != nil:
				put(name+"_count", m, float64(m.GetSummary().GetSampleCount()))
				put(name+"_sum", m, m.GetSummary().GetSampleSum())
			}
		}
	}
	return out, nil
}

// fingerprint tells one process's registry apart from another's: the host it is reached
// on and its start time (in clock ticks, so two processes of one host rarely share it).
// Without the process collector there is no safe way to tell, and every endpoint counts.
func fingerprint(host string, values map[string]series) string {
	start, ok := values["process_start_time_seconds"]
	if !ok {
		return ""
	}
	return host + "|" + strconv.FormatFloat(start.value, 'f', -1, 64)
}

// live are the scrapes that count: answered, and not a second view of a process.
func (r *round) live() []*scrape {
	var out []*scrape
	if r == nil {
		return nil
	}
	for _, s := range r.scrapes {
		if s.err == "" && s.sameAs == "" {
			out = append(out, s)
		}
	}
	return out
}

func (r *round) find(base string) *scrape {
	if r == nil {
		return nil
	}
	for _, s := range r.scrapes {
		if s.ep.base == base && s.err == "" {
			return s
		}
	}
	return nil
}

// matches reports whether s is the metric name with every label of match.
func matches(s series, name string, match []string) bool {
	if s.name != name {
		return false
	}
	for i := 0; i+1 < len(match); i += 2 {
		if s.labels[match[i]] != match[i+1] {
			return false
		}
	}
	return true
}

// agg is a value per label value.
type agg map[string]float64

// known, present in a rate, says the rate could be computed: a label value missing from
// it then had no increase.
const known = "\x00known"

// sum adds the metric's series over the live endpoints, grouped by label by ("" for one
// total).
func (r *round) sum(name, by string, match ...string) agg {
	out := agg{}
	for _, sc := range r.live() {
		for _, s := range sc.values {
			if matches(s, name, match) {
				out[s.labels[by]] += s.value
			}
		}
	}
	return out
}

// max is the largest series of the metric, grouped by label by: for gauges that every
// instance reports in full (a view's lag) or where the worst one matters (iterator age).
func (r *round) max(name, by string, match ...string) agg {
	out := agg{}
	for _, sc := range r.live() {
		for _, s := range sc.values {
			if matches(s, name, match) {
				if v, ok := out[s.labels[by]]; !ok || s.value > v {
					out[s.labels[by]] = s.value
				}
			}
		}
	}
	return out
}

// rate is the per-second increase of a counter between two rounds, summed per label value
// over the endpoints present in both. A series that went down was reset (a restart), and
// its whole current value is the increase. Endpoints missing from prev give no rate
// rather than a wrong one.
func rate(prev, cur *round, name, by string, match ...string) agg {
	out := agg{}
	if prev == nil {
		return out
	}
	for _, sc := range cur.live() {
		ps := prev.find(sc.ep.base)
		if ps == nil {
			continue
		}
		dt := sc.at.Sub(ps.at).Seconds()
		if dt <= 0 {
			continue
		}
		// Scraped twice: a series it lacks has not counted anything, a rate of 0.
		out[known] = 1
		for k, s := range sc.values {
			if !matches(s, name, match) {
				continue
			}
			d := s.value
			if p, ok := ps.values[k]; ok && p.value <= s.value {
				d = s.value - p.value
			} else if !ok {
				// A series born between the scrapes: it counted from zero.
				d = s.value
			}
			out[s.labels[by]] += d / dt
		}
	}
	return out
}

// exports reports whether any live endpoint has a series whose name starts with prefix.
func (r *round) exports(prefix string) bool {
	for _, sc := range r.live() {
		for _, s := range sc.values {
			if strings.HasPrefix(s.name, prefix) {
				return true
			}
		}
	}
	return false
}

// keys are the label values seen in the aggregates plus the ones the topology promises,
// sorted, without "".
func keys(want []string, aggs ...agg) []string {
	set := map[string]bool{}
	for _, w := range want {
		set[w] = true
	}
	for _, a := range aggs {
		for k := range a {
			if k != "" && k != known {
				set[k] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (st *statusState) trackFlushes(r *round) {
	if st.lastFlush == nil {
		st.lastFlush = map[string]time.Time{}
	}
	defer func() { st.prevAt = r.at }()
	// The first round only sets the baseline: an old total says nothing about when.
	if st.flushBase == nil {
		st.flushBase = r.sum("streamhub_sink_flushes_total", "sink", "outcome", "ok")
		return
	}
	for sink, n := range r.sum("streamhub_sink_flushes_total", "sink", "outcome", "ok") {
		if n != st.flushBase[sink] {
			// The flush ended somewhere after the previous round: that is all status knows.
			st.lastFlush[sink] = st.prevAt
		}
		st.flushBase[sink] = n
	}
}

// fmtRate prints a per-second value; "-" when there is no rate yet.
func fmtRate(a agg, k string) string {
	v, ok := a[k]
	if !ok {
		if _, ok := a[known]; ok {
			return "0"
		}
		return "-"
	}
	return fmtNum(v)
}

func fmtNum(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "-"
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
}

// fmtVal prints a gauge or counter total; "-" when no endpoint has it.
func fmtVal(a agg, k string) string {
	v, ok := a[k]
	if !ok {
		return "-"
	}
	return fmtNum(v)
}

func fmtSeconds(a agg, k string) string {
	v, ok := a[k]
	if !ok {
		return "-"
	}
	return fmtDuration(time.Duration(v * float64(time.Second)))
}

func fmtDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}

// render is one screen.
func (st *statusState) render(prev, cur *round) string {
	var b strings.Builder
	over := "rates from the next screen"
	if prev != nil {
		over = "rates over " + fmtDuration(cur.at.Sub(prev.at))
	}
	fmt.Fprintf(&b, "streamhub status · %s · %s · %s\n\n", st.title, cur.at.Format("2006-01-02 15:04:05"), over)

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ENDPOINT\tROLE\tSTATE")
	for _, s := range cur.scrapes {
		state := "up"
		switch {
		case s.err != "":
			state = s.err
		case s.sameAs != "":
			state = "up, same process as " + strings.TrimPrefix(s.sameAs, "http://") + " (counted once)"
		case s.ready != "":
			state = "up, " + s.ready
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", strings.TrimPrefix(s.ep.base, "http://"), s.ep.role, state)
	}
	tw.Flush()

	section := func(prefix, header, what string, rows func(tw *tabwriter.Writer) string) {
		b.WriteString("\n")
		if !cur.exports(prefix) {
			name, _, _ := strings.Cut(header, "\t")
			fmt.Fprintf(&b, "%s  no data: no endpoint exports %s* (%s)\n", name, prefix, what)
			return
		}
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, header)
		footer := rows(tw)
		tw.Flush()
		b.WriteString(footer)
	}

	section("streamhub_bridge_", "BRIDGE\tRECORDS/S\tITERATOR AGE\tAPI ERRORS/S\tAPI ERRORS\tDATA LOSS\tDLQ",
		"add the bridge's --ops-listen to --endpoints", func(tw *tabwriter.Writer) string {
			recs := rate(prev, cur, "streamhub_bridge_records_total", "table")
			age := cur.max("streamhub_bridge_iterator_age_seconds", "table")
			errs := rate(prev, cur, "streamhub_bridge_api_errors_total", "table")
			errTotal := cur.sum("streamhub_bridge_api_errors_total", "table")
			loss := cur.sum("streamhub_bridge_data_loss_total", "table")
			dlq := cur.sum("streamhub_bridge_dlq_total", "table")
			for _, t := range keys(nil, cur.sum("streamhub_bridge_records_total", "table"), age, errTotal) {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t, fmtRate(recs, t), fmtSeconds(age, t),
					fmtRate(errs, t), zero(errTotal, t), zero(loss, t), zero(dlq, t))
			}
			return ""
		})

	section("streamhub_processor_", "PROCESSOR\tEVENTS/S\tAPPLIED/S\tSTALE/S\tDUPLICATE/S\tINVALID/S\tLAG\tKEYS\tPARTITIONS",
		"add the processors' --ops-listen to --endpoints", func(tw *tabwriter.Writer) string {
			const ev = "streamhub_processor_events_total"
			in := rate(prev, cur, ev, "table")
			by := func(outcome string) agg { return rate(prev, cur, ev, "table", "outcome", outcome) }
			applied, stale, dup, invalid := by("applied"), by("stale"), by("duplicate"), by("invalid")
			lag := cur.sum("streamhub_processor_consumer_lag_records", "table")
			keysN := cur.sum("streamhub_processor_state_keys", "table")
			parts := cur.sum("streamhub_processor_partitions", "table")
			for _, t := range keys(st.tables, cur.sum(ev, "table"), lag) {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t, fmtRate(in, t), fmtRate(applied, t),
					fmtRate(stale, t), fmtRate(dup, t), fmtRate(invalid, t), fmtVal(lag, t), fmtVal(keysN, t), fmtVal(parts, t))
			}
			return ""
		})

	section("streamhub_view_", "VIEW\tREADY\tLAG\tLOOKUPS/S\tNOT FOUND/S",
		"the topology's api.listen", func(tw *tabwriter.Writer) string {
			lag := cur.max("streamhub_view_lag_records", "table")
			lookups := rate(prev, cur, "streamhub_view_lookups_total", "table")
			missing := rate(prev, cur, "streamhub_view_lookups_total", "table", "result", "not_found")
			ready := st.viewReady(cur)
			for _, t := range keys(st.tables, lag) {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t, orDash(ready[t]), fmtVal(lag, t), fmtRate(lookups, t), fmtRate(missing, t))
			}
			reqs := rate(prev, cur, "streamhub_api_requests_total", "")
			errs5 := fiveXX(rate(prev, cur, "streamhub_api_requests_total", "code"))
			return fmt.Sprintf("api requests/s %s, 5xx/s %s\n", fmtRate(reqs, ""), fmtRate(errs5, ""))
		})

	section("streamhub_collector_", "COLLECTOR\tACCEPTED/S\tREJECTED/S\tREQUESTS/S\t5XX/S\tQUEUE",
		"the topology's collector.listen", func(tw *tabwriter.Writer) string {
			acc := rate(prev, cur, "streamhub_collector_events_accepted_total", "")
			rej := rate(prev, cur, "streamhub_collector_events_rejected_total", "")
			reqs := rate(prev, cur, "streamhub_collector_requests_total", "")
			errs5 := fiveXX(rate(prev, cur, "streamhub_collector_requests_total", "code"))
			queue := cur.sum("streamhub_collector_queue_events", "")
			fmt.Fprintf(tw, "all\t%s\t%s\t%s\t%s\t%s\n", fmtRate(acc, ""), fmtRate(rej, ""), fmtRate(reqs, ""), fmtRate(errs5, ""), fmtVal(queue, ""))
			return ""
		})

	section("streamhub_sink_", "SINK\tRECORDS/S\tLAST FLUSH\tFLUSHES\tFLUSH ERRORS\tLAG\tBUFFERED",
		"add the emit instances' --ops-listen to --endpoints", func(tw *tabwriter.Writer) string {
			recs := rate(prev, cur, "streamhub_sink_records_total", "sink")
			ok := cur.sum("streamhub_sink_flushes_total", "sink", "outcome", "ok")
			bad := cur.sum("streamhub_sink_flushes_total", "sink", "outcome", "error")
			lag := cur.sum("streamhub_sink_consumer_lag_records", "sink")
			buf := cur.sum("streamhub_sink_buffered_records", "sink")
			for _, s := range keys(st.sinks, ok, lag, buf) {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s, fmtRate(recs, s), st.flushAge(cur, s), zero(ok, s), zero(bad, s), fmtVal(lag, s), fmtVal(buf, s))
			}
			return ""
		})
	return b.String()
}

// flushAge is how long ago status saw the sink's last successful flush.
func (st *statusState) flushAge(cur *round, sink string) string {
	if t, ok := st.lastFlush[sink]; ok {
		return "<" + fmtDuration(cur.at.Sub(t)) + " ago"
	}
	return "none seen"
}

// viewReady is each table's view state from the /readyz of the endpoints that serve
// views; with several instances, "ready" only when all are.
func (st *statusState) viewReady(cur *round) map[string]string {
	out := map[string]string{}
	for _, sc := range cur.live() {
		for t, s := range sc.tables {
			if prev, ok := out[t]; !ok || prev == "ready" {
				out[t] = s
			}
		}
	}
	return out
}

// zero prints a counter total; a counter nobody has incremented yet is absent, not unknown.
func zero(a agg, k string) string {
	if v, ok := a[k]; ok {
		return fmtNum(v)
	}
	return "0"
}

// fiveXX folds a rate by status code into the rate of server errors.
func fiveXX(byCode agg) agg {
	out := agg{}
	for code, v := range byCode {
		switch {
		case code == known:
			out[known] = v
		case strings.HasPrefix(code, "5"):
			out[""] += v
		}
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
