package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// The markers around the generated part of the README's Performance section.
const (
	ReadmeBegin = "<!-- bench:begin -->"
	ReadmeEnd   = "<!-- bench:end -->"
)

// fmtRate writes a rate with three significant digits and k/M: "133 k events/s".
func fmtRate(v float64, unit string) string {
	switch {
	case v <= 0:
		return "—"
	case v >= 1e9:
		return fmt.Sprintf("%.0f M %s", v/1e6, unit)
	case v >= 1e6:
		return fmt.Sprintf("%.3g M %s", v/1e6, unit)
	case v >= 1e3:
		return fmt.Sprintf("%.3g k %s", v/1e3, unit)
	default:
		return fmt.Sprintf("%.3g %s", v, unit)
	}
}

// fmtMillis writes milliseconds with about three significant digits.
func fmtMillis(ms float64) string {
	switch {
	case ms >= 100:
		return fmt.Sprintf("%.0f ms", ms)
	case ms >= 10:
		return fmt.Sprintf("%.1f ms", ms)
	default:
		return fmt.Sprintf("%.2f ms", ms)
	}
}

func (r SuiteRow) rateCell() string {
	if r.Skipped != "" || r.Error != "" {
		return "—"
	}
	return fmtRate(r.Rate, r.Unit)
}

func (r SuiteRow) rawCell() string {
	if r.Medium == "" || r.RawRate <= 0 {
		return "—"
	}
	return fmtRate(r.RawRate, r.Unit)
}

func (r SuiteRow) ratioCell() string {
	if r.Ratio <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.3f", r.Ratio)
}

// latencyCell is "12 ms per flush", or for a full distribution "p50 30 ms · p99 80 ms ·
// max 95 ms" (what was timed is in the row's name).
func (r SuiteRow) latencyCell() string {
	if len(r.Latency) == 0 {
		return "—"
	}
	var parts []string
	for _, l := range r.Latency {
		if l.P50Ms == 0 && l.MaxMs == 0 {
			parts = append(parts, fmt.Sprintf("%s per %s", fmtMillis(l.P99Ms), l.Of))
			continue
		}
		parts = append(parts, fmt.Sprintf("p50 %s · p99 %s · max %s", fmtMillis(l.P50Ms), fmtMillis(l.P99Ms), fmtMillis(l.MaxMs)))
	}
	return strings.Join(parts, "; ")
}

func (r SuiteRow) nameCell() string {
	if r.Name == "" {
		return r.Stage
	}
	return r.Stage + ": " + r.Name
}

func (r SuiteRow) notesCell() string {
	switch {
	case r.Error != "":
		return "FAILED: " + r.Error
	case r.Skipped != "":
		return r.Skipped
	}
	return r.Notes
}

func (r SuiteRow) mediumCell() string {
	if r.Medium == "" {
		return "—"
	}
	return r.Medium
}

// header is one line on the run: when, where, how loaded.
func (r SuiteResult) header() string {
	size := "full sizes"
	if r.Quick {
		size = "--quick sizes (start-up dominates; not figures to quote)"
	}
	return fmt.Sprintf("%s, %s, %s, %d CPUs, %s, %.0f s, %s",
		r.Date.Format("2006-01-02 15:04 UTC"), r.Go, r.Platform, r.CPUs, r.load(), r.Seconds, size)
}

// load is the load averages of the run: "load average 0.40 at the start, 2.10 at the end".
func (r SuiteResult) load() string {
	s := fmt.Sprintf("load average %.2f at the start", r.LoadAverage)
	if r.LoadAverageEnd > 0 {
		s += fmt.Sprintf(", %.2f at the end", r.LoadAverageEnd)
	}
	return s
}

// WriteText writes the result as an aligned table for a terminal.
func (r SuiteResult) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "%s\n%s\n\n", r.Command, r.header())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STAGE\tRATE\tRAW MEDIUM\tRAW RATE\tRATIO\tP99 LATENCY")
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", row.nameCell(), row.rateCell(), row.mediumCell(),
			row.rawCell(), row.ratioCell(), row.latencyCell())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Notes would make the table too wide for a terminal: they follow it.
	fmt.Fprintln(w)
	for _, row := range r.Rows {
		if n := row.notesCell(); n != "" {
			fmt.Fprintf(w, "%s: %s\n", row.nameCell(), n)
		}
	}
	return nil
}

// WriteJSON writes the result as indented JSON.
func (r SuiteResult) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteMarkdown writes the result as a Markdown table.
func (r SuiteResult) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("| stage | rate | raw medium | raw rate | ratio | p99 latency | notes |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, row := range r.Rows {
		cells := []string{row.nameCell(), row.rateCell(), row.mediumCell(), row.rawCell(), row.ratioCell(), row.latencyCell(), row.notesCell()}
		for i, c := range cells {
			cells[i] = strings.ReplaceAll(c, "|", `\|`)
		}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ReadmeSection is what goes between the README's markers: the command and the date,
// then the table.
func (r SuiteResult) ReadmeSection() string {
	var b strings.Builder
	fmt.Fprintf(&b, "`%s` on %s (%s, %d CPUs, %s; %.0f s in all):\n\n",
		r.Command, r.Date.Format("2006-01-02"), r.Platform, r.CPUs, r.load(), r.Seconds)
	r.WriteMarkdown(&b)
	return b.String()
}

// UpdateReadme replaces what lies between ReadmeBegin and ReadmeEnd in doc with section.
// Each marker must be there once, on a line of its own, the begin before the end.
func UpdateReadme(doc []byte, section string) ([]byte, error) {
	if n := bytes.Count(doc, []byte(ReadmeBegin)); n != 1 {
		return nil, fmt.Errorf("want the marker %s once, found it %d times", ReadmeBegin, n)
	}
	if n := bytes.Count(doc, []byte(ReadmeEnd)); n != 1 {
		return nil, fmt.Errorf("want the marker %s once, found it %d times", ReadmeEnd, n)
	}
	begin := bytes.Index(doc, []byte(ReadmeBegin))
	end := bytes.Index(doc, []byte(ReadmeEnd))
	if end < begin {
		return nil, fmt.Errorf("the marker %s comes before %s", ReadmeEnd, ReadmeBegin)
	}
	afterBegin := begin + len(ReadmeBegin)
	if afterBegin >= len(doc) || doc[afterBegin] != '\n' || (end > 0 && doc[end-1] != '\n') {
		return nil, fmt.Errorf("the markers %s and %s must be on lines of their own", ReadmeBegin, ReadmeEnd)
	}
	if !strings.HasSuffix(section, "\n") {
		section += "\n"
	}
	var out bytes.Buffer
	out.Write(doc[:afterBegin+1])
	out.WriteString(section)
	out.Write(doc[end:])
	return out.Bytes(), nil
}
