package topology

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads, expands, completes and validates the topology file at path.
// See Parse for what the returned error holds.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes a topology from YAML data; path names the file in messages and is the
// directory relative TLS file names are resolved against.
//
// ${VAR} and ${VAR:-default} in scalar values are replaced from the environment after
// YAML parsing, so a secret with YAML syntax in it is safe. Unknown fields are errors,
// except top-level keys starting with "x-", a place for YAML anchors to share (as in
// Docker Compose files). Then defaults are applied (EnsureDefaults) and the result
// validated (Validate).
//
// On any problem the error is an ErrorList holding every problem found, each with
// file:line, field path and the bad value, and the Config is nil.
func Parse(path string, data []byte) (*Config, error) {
	return parse(path, data, os.LookupEnv)
}

func parse(path string, data []byte, lookup func(string) (string, bool)) (*Config, error) {
	r := newReport(path)
	root, ok := parseYAML(r, data)
	if !ok {
		return nil, r.err()
	}
	if root.Kind != yaml.MappingNode && !isNull(root) {
		r.at(root.Line, "", "expected a mapping of settings (kafka, tables, ...), got %s", describe(root, false))
		return nil, r.err()
	}
	c := &Config{}
	d := &decoder{r: r, lookup: lookup}
	d.decode(root, reflect.ValueOf(c).Elem(), "", field{})
	c.Path = path
	c.resolveFiles(filepath.Dir(path))
	c.ensureDefaults(r)
	c.validate(r)
	if err := r.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// parseYAML returns the root node of the single document in data.
func parseYAML(r *report, data []byte) (*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			r.at(0, "", "the file is empty; a topology needs at least kafka.brokers and a table or a collector")
		} else {
			yamlProblem(r, err)
		}
		return nil, false
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		r.at(next.Line, "", "a second YAML document; a topology is one document (remove the ---)")
		return nil, false
	case !errors.Is(err, io.EOF):
		yamlProblem(r, err)
		return nil, false
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0], true
	}
	return &doc, true
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlProblem turns a yaml.v3 syntax error ("yaml: line 3: did not find expected key")
// into a Problem on that line.
func yamlProblem(r *report, err error) {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		r.at(line, "", "invalid YAML: %s", m[2])
		return
	}
	r.at(0, "", "invalid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

// resolveFiles makes relative TLS file names relative to dir, the directory of the file
// that names them, as an operator reading the file expects.
func (c *Config) resolveFiles(dir string) {
	if col := c.Collector; col != nil {
		for i := range col.Events {
			if f := &col.Events[i].Schema; *f != "" && !filepath.IsAbs(*f) {
				*f = filepath.Join(dir, *f)
			}
		}
	}
	t := c.Kafka.TLS
	if t == nil {
		return
	}
	for _, f := range []*string{&t.CAFile, &t.CertFile, &t.KeyFile} {
		if *f != "" && !filepath.IsAbs(*f) {
			*f = filepath.Join(dir, *f)
		}
	}
}
