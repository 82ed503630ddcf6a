package topology

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong with a topology: where it is and what is wrong.
// Its Error reads "users.yaml:12: tables[0].partitions: must be between 1 and 10000, got 0".
type Problem struct {
	// File is the path given to Load or Parse; Config.Path for a Config built in Go.
	File string
	// Line is 1-based; 0 when the problem has no place in a file (a Config built in Go,
	// a field missing from the file's top level).
	Line int
	// Field is the path from the root, "tables[0].partitions"; "" for the file as a whole.
	Field string
	// Msg says what is wrong and shows the bad value (never a secret's).
	Msg string
}

// Error formats the problem as file:line: field: message, leaving out what is unknown.
func (p *Problem) Error() string {
	var b strings.Builder
	switch {
	case p.File != "" && p.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", p.File, p.Line)
	case p.File != "":
		b.WriteString(p.File + ": ")
	case p.Line > 0:
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// ErrorList is every problem Load, Parse or Validate found in one pass, in file order.
// Its Error prints one problem per line. Use errors.As to get it from an error.
type ErrorList []*Problem

// Error is every problem on its own line.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, p := range l {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap gives errors.Is and errors.As the single problems.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, p := range l {
		errs[i] = p
	}
	return errs
}

// report collects problems for one file and knows where each field was written.
type report struct {
	file string
	// lines maps a field path ("tables[0].partitions", "tables[0]") to the line it is
	// written on. Only fields present in the file are here.
	lines map[string]int
	// set holds the paths of scalars the file gives a non-empty value, so that defaults
	// fill only what was left out and an explicit "partitions: 0" stays an error.
	set map[string]bool
	// bad holds the paths whose value could not be decoded. Validation is quiet about
	// them and everything under them: the decode problem already says what is wrong, and
	// "must be between 1 and 10000, got 0" after "must be an integer" would only confuse.
	bad      map[string]bool
	problems ErrorList
}

func newReport(file string) *report {
	return &report{file: file, lines: map[string]int{}, set: map[string]bool{}, bad: map[string]bool{}}
}

// errorf records a problem with the field at path, placed on the line of the nearest
// written ancestor.
func (r *report) errorf(path, format string, args ...any) {
	for p := path; p != ""; p = parentPath(p) {
		if r.bad[p] {
			return
		}
	}
	r.problems = append(r.problems, &Problem{File: r.file, Line: r.lineOf(path), Field: path, Msg: fmt.Sprintf(format, args...)})
}

// at records a problem on a known line; used by the decoder, which knows the node.
func (r *report) at(line int, path, format string, args ...any) {
	r.problems = append(r.problems, &Problem{File: r.file, Line: line, Field: path, Msg: fmt.Sprintf(format, args...)})
}

func (r *report) lineOf(path string) int {
	for p := path; p != ""; p = parentPath(p) {
		if l, ok := r.lines[p]; ok {
			return l
		}
	}
	return 0
}

// written reports whether the file gives the scalar at path a value. A Config built in
// Go has no file, so nothing is written and every zero field takes its default.
func (r *report) written(path string) bool { return r.set[path] }

func (r *report) err() error {
	if len(r.problems) == 0 {
		return nil
	}
	sort.SliceStable(r.problems, func(i, j int) bool { return r.problems[i].Line < r.problems[j].Line })
	return r.problems
}

// parentPath strips the last element: "a.b[2]" → "a.b", "a.b" → "a", "a" → "".
func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

func joinPath(parent, field string) string {
	if parent == "" {
		return field
	}
	return parent + "." + field
}

func indexPath(parent string, i int) string { return fmt.Sprintf("%s[%d]", parent, i) }
