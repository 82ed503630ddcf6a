package topology

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"
)

// decoder turns a yaml.Node tree into a Config by walking the Go types and their yaml
// tags, so that it knows the line of every value, reports unknown fields, and expands
// ${VAR} in scalar values after YAML parsing. It never stops at the first problem.
//
// Tags understood besides the yaml name: `topology:"list"` lets a []string be written as
// the scalar "a,b,c"; `topology:"bytes"` lets an integer be written with a unit ("5MiB");
// `topology:"secret"` keeps the value out of messages.
type decoder struct {
	r      *report
	lookup func(string) (string, bool)

	// pairsOf remembers the resolved pairs of each mapping, so that a mapping merged into
	// many others is expanded once (chains of merges would otherwise grow exponentially);
	// merging holds the mappings being expanded, to catch one merged into itself.
	pairsOf map[*yaml.Node][]pair
	merging map[*yaml.Node]bool
}

// field is one struct field as the decoder sees it.
type field struct {
	name   string
	index  int
	list   bool
	bytes  bool
	secret bool
}

func fieldsOf(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if name == "-" || !sf.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		f := field{name: name, index: i}
		for opt := range strings.SplitSeq(sf.Tag.Get("topology"), ",") {
			switch opt {
			case "list":
				f.list = true
			case "bytes":
				f.bytes = true
			case "secret":
				f.secret = true
			}
		}
		out = append(out, f)
	}
	return out
}

var durationType = reflect.TypeFor[time.Duration]()

// decode stores node n into v; path names v for messages ("tables[0].partitions").
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string, f field) {
	n = resolve(n)
	if v.Type() == durationType {
		d.duration(n, v, path, f)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if isNull(n) {
			// "tls:" with nothing after it turns TLS on with defaults, as "tls: {}" does;
			// a *bool stays unset.
			if v.Type().Elem().Kind() == reflect.Struct {
				v.Set(reflect.New(v.Type().Elem()))
			}
			return
		}
		if v.Type().Elem().Kind() == reflect.Struct && n.Kind == yaml.ScalarNode {
			d.fail(n, path, "expected a mapping, got %s (write %s: {} for the defaults)", describe(n, f.secret), f.name)
			return
		}
		p := reflect.New(v.Type().Elem())
		d.decode(n, p.Elem(), path, f)
		v.Set(p)
	case reflect.Struct:
		d.mapping(n, v, path)
	case reflect.Slice:
		d.sequence(n, v, path, f)
	case reflect.String:
		if s, ok := d.scalar(n, path, f, "a string"); ok {
			v.SetString(s)
			if s != "" {
				d.r.set[path] = true
			}
		}
	case reflect.Int, reflect.Int32, reflect.Int64:
		d.integer(n, v, path, f)
	case reflect.Bool:
		s, ok := d.scalar(n, path, f, "true or false")
		if !ok || s == "" {
			return
		}
		switch strings.ToLower(s) {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			d.fail(n, path, "must be true or false, got %q", s)
			return
		}
		d.r.set[path] = true
	default:
		panic(fmt.Sprintf("topology: decoder cannot store into %s (%s)", v.Type(), path))
	}
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.r.at(n.Line, path, format, args...)
	d.r.bad[path] = true
}

// scalar returns the expanded text of a scalar node. ok is false when the node is null
// (the field keeps its zero value and takes its default) or when a problem was reported.
func (d *decoder) scalar(n *yaml.Node, path string, f field, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "expected %s, got %s", want, describe(n, f.secret))
		return "", false
	}
	if isNull(n) {
		return "", false
	}
	s, errs := expand(n.Value, d.lookup, f.secret)
	for _, e := range errs {
		d.r.at(n.Line, path, "%s", e)
	}
	if len(errs) > 0 {
		d.r.bad[path] = true
		return "", false
	}
	return s, true
}

// integer decodes an int field. An empty value (after expansion: "${N:-}") leaves the
// field to its default.
func (d *decoder) integer(n *yaml.Node, v reflect.Value, path string, f field) {
	s, ok := d.scalar(n, path, f, "an integer")
	if !ok || s == "" {
		return
	}
	var (
		i   int64
		err error
	)
	if f.bytes {
		i, err = parseSize(s)
		if err != nil {
			d.fail(n, path, "must be a size in bytes like 1048576 or 1MiB, got %q", s)
			return
		}
	} else {
		i, err = strconv.ParseInt(s, 10, 64)
		if err != nil {
			d.fail(n, path, "must be an integer, got %q", s)
			return
		}
	}
	if v.OverflowInt(i) {
		d.fail(n, path, "%s is out of range", s)
		return
	}
	v.SetInt(i)
	d.r.set[path] = true
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string, f field) {
	s, ok := d.scalar(n, path, f, "a duration")
	if !ok || s == "" {
		return
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		hint := ""
		if _, e := strconv.ParseFloat(s, 64); e == nil {
			hint = fmt.Sprintf(" (add a unit: %ss)", s)
		}
		d.fail(n, path, "must be a duration like 30s, 5m or 1h30m, got %q%s", s, hint)
		return
	}
	v.SetInt(int64(dur))
	d.r.set[path] = true
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string, f field) {
	if isNull(n) {
		return
	}
	elem := field{name: f.name, secret: f.secret, bytes: f.bytes}
	if n.Kind == yaml.ScalarNode && f.list {
		s, ok := d.scalar(n, path, f, "a list")
		if !ok || strings.TrimSpace(s) == "" {
			return
		}
		parts := strings.Split(s, ",")
		out := reflect.MakeSlice(v.Type(), len(parts), len(parts))
		for i, p := range parts {
			ip := indexPath(path, i)
			d.r.lines[ip] = n.Line
			out.Index(i).SetString(strings.TrimSpace(p))
		}
		v.Set(out)
		return
	}
	if n.Kind != yaml.SequenceNode {
		hint := ""
		if n.Kind == yaml.ScalarNode && !f.secret {
			hint = fmt.Sprintf(" (write [%s] for a list)", n.Value)
		}
		d.fail(n, path, "expected a list, got %s%s", describe(n, f.secret), hint)
		return
	}
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		ip := indexPath(path, i)
		d.r.lines[ip] = item.Line
		d.decode(item, out.Index(i), ip, elem)
	}
	v.Set(out)
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "expected a mapping, got %s", describe(n, false))
		return
	}
	fields := fieldsOf(v.Type())
	byName := make(map[string]field, len(fields))
	names := make([]string, len(fields))
	for i, f := range fields {
		byName[f.name] = f
		names[i] = f.name
	}
	seen := map[string]int{}
	for _, p := range d.pairs(n, path) {
		k := p.key
		if k.Kind != yaml.ScalarNode {
			d.r.at(k.Line, path, "a key must be a plain name, got %s", describe(k, false))
			continue
		}
		name := k.Value
		if path == "" && strings.HasPrefix(name, "x-") {
			continue // an extension field: a place for anchors, as in Docker Compose files
		}
		f, ok := byName[name]
		if !ok {
			d.r.at(k.Line, path, "unknown field %q%s", name, hint(name, names))
			continue
		}
		fp := joinPath(path, name)
		if first, dup := seen[name]; dup {
			d.r.at(k.Line, fp, "written twice (first at line %d)", first)
			continue
		}
		seen[name] = k.Line
		d.r.lines[fp] = k.Line
		d.decode(p.val, v.Field(f.index), fp, f)
	}
}

type pair struct{ key, val *yaml.Node }

// pairs lists the key/value pairs of a mapping with YAML merge keys ("<<: *base")
// resolved: a key written in the mapping wins over a merged one, and an earlier merged
// mapping wins over a later one.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	if ps, ok := d.pairsOf[n]; ok {
		return ps
	}
	if d.merging[n] {
		d.r.at(n.Line, path, "<< merges a mapping into itself")
		return nil
	}
	if d.pairsOf == nil {
		d.pairsOf, d.merging = map[*yaml.Node][]pair{}, map[*yaml.Node]bool{}
	}
	d.merging[n] = true
	defer delete(d.merging, n)

	var explicit, merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, d.mergeSources(v, path)...)
			continue
		}
		explicit = append(explicit, pair{k, v})
	}
	if len(merged) == 0 {
		d.pairsOf[n] = explicit
		return explicit
	}
	have := map[string]bool{}
	for _, p := range explicit {
		have[p.key.Value] = true
	}
	var out []pair
	for _, p := range merged {
		if !have[p.key.Value] {
			have[p.key.Value] = true
			out = append(out, p)
		}
	}
	out = append(out, explicit...)
	d.pairsOf[n] = out
	return out
}

func (d *decoder) mergeSources(v *yaml.Node, path string) []pair {
	v = resolve(v)
	switch v.Kind {
	case yaml.MappingNode:
		return d.pairs(v, path)
	case yaml.SequenceNode:
		var out []pair
		for _, item := range v.Content {
			if m := resolve(item); m.Kind == yaml.MappingNode {
				out = append(out, d.pairs(m, path)...)
				continue
			}
			d.r.at(item.Line, path, "<< merges mappings only, got %s", describe(item, false))
		}
		return out
	}
	d.r.at(v.Line, path, "<< merges a mapping or a list of mappings, got %s", describe(v, false))
	return nil
}

func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// describe names what the file holds where something else was expected.
func describe(n *yaml.Node, secret bool) string {
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch {
		case isNull(n):
			return "nothing"
		case secret:
			return "a string (value hidden)"
		}
		return strconv.Quote(n.Value)
	}
	return "something else"
}

// hint suggests the known name closest to a misspelt one, or lists them all.
func hint(name string, known []string) string {
	if s := closest(name, known); s != "" {
		return fmt.Sprintf("; did you mean %q?", s)
	}
	return "; known fields: " + strings.Join(known, ", ")
}

// closest returns the known word a typo most likely meant: the same word written with
// other separators or letter case ("minInsyncReplicas"), or one at most two edits away.
func closest(word string, known []string) string {
	norm := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '_' || r == '-' || r == ' ' {
				return -1
			}
			return unicode.ToLower(r)
		}, s)
	}
	best, bestDist := "", 3
	for _, k := range known {
		if norm(k) == norm(word) {
			return k
		}
		if d := editDistance(strings.ToLower(word), k); d < bestDist && d < len(k)/2+1 {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// parseSize reads "1048576", "512KB", "5MiB", "1 GiB". KB, MB and GB are powers of
// 1000, KiB, MiB and GiB powers of 1024; letter case does not matter.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, err
	}
	mult := map[string]int64{
		"": 1, "b": 1,
		"kb": 1e3, "mb": 1e6, "gb": 1e9,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30,
	}[strings.ToLower(unit)]
	if mult == 0 {
		return 0, fmt.Errorf("unknown unit %q", unit)
	}
	if n > (1<<63-1)/mult {
		return 0, fmt.Errorf("%s overflows", s)
	}
	return n * mult, nil
}
