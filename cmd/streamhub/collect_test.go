package main

import (
	"strings"
	"testing"
)

func TestCollectCommandLine(t *testing.T) {
	noCollector := writeFile(t, "t.yaml", goodTopology)
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr []string
	}{
		{"help explains the protocol", []string{"collect", "-h"}, 0, []string{"Usage: streamhub collect -c FILE", "POST /v1/events", "X-API-Key", "<env>.<source>.<event_name>", "503", "-listen"}},
		{"without -c", []string{"collect"}, 2, []string{"-c FILE is required"}},
		{"a topology without a collector", []string{"collect", "-c", noCollector}, 1, []string{"nothing to collect"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\n%s", code, tt.code, stderr)
			}
			for _, want := range tt.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
		})
	}
}
