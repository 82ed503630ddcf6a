package main

import (
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestDevRunsForItsDurationAndPrintsBoundAddresses(t *testing.T) {
	lakeDir := t.TempDir()
	code, stdout, stderr := runCmd(t, "dev",
		"--duration", "4s", "--kafka-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0",
		"--dynamodb-listen", "127.0.0.1:0", "--collector-listen", "127.0.0.1:0", "--split-after", "1s", "--lake-dir", lakeDir,
		"--status-every", "1s", "--seed", "1")
	if code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.HasPrefix(stdout, "streamhub dev is running.\n") {
		t.Errorf("stdout does not start with the banner:\n%s", stdout)
	}
	// Port 0 asks for any free port: the banner must show the ports actually bound.
	bound := func(what, pattern string) {
		t.Helper()
		m := regexp.MustCompile(pattern).FindStringSubmatch(stdout)
		if m == nil {
			t.Errorf("banner has no %s matching %s:\n%s", what, pattern, stdout)
			return
		}
		if port, err := strconv.Atoi(m[1]); err != nil || port == 0 {
			t.Errorf("banner shows %s port %q, want the bound port", what, m[1])
		}
	}
	bound("DynamoDB Streams URL", `DynamoDB Streams\s+http://127\.0\.0\.1:(\d+)\s`)
	if !regexp.MustCompile(`(?m)^split shard shardId-\S+ into shardId-\S+ and shardId-\S+$`).MatchString(stdout) {
		t.Errorf("no split line:\n%s", stdout)
	}
	bound("Kafka address", `Kafka \(embedded\)\s+127\.0\.0\.1:(\d+)\s`)
	bound("view API URL", `View API\s+http://127\.0\.0\.1:(\d+)/v1/tables\n`)
	bound("curl line", `curl -s 'http://127\.0\.0\.1:(\d+)/v1/tables/users/item\?pk=user%231&sk=profile'`)
	bound("collector curl line", `curl -s http://127\.0\.0\.1:(\d+)/v1/events `)

	counts := `events in \d+ \(applied \d+, stale \d+, duplicate \d+, invalid \d+\)`
	status := `bridged \d+ \(shards \d+\) · ` + counts + ` · keys \d+ · lag \d+ · lake \d+`
	if n := len(regexp.MustCompile(`(?m)^\[\d+s\] `+status+`$`).FindAllString(stdout, -1)); n < 1 {
		t.Errorf("no status line every 1s:\n%s", stdout)
	}
	if !regexp.MustCompile(`(?m)^stopped after \d+s: writes \d+ · bridged \d+ · ` + counts + ` · lake \d+\n\z`).MatchString(stdout) {
		t.Errorf("stdout does not end with the final status line:\n%s", stdout)
	}
	// The lake got the CDC topic (flushed on the way out) and a snapshot of the table.
	var objects, snapshots int
	filepath.WalkDir(lakeDir, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil || d.IsDir():
		case strings.HasSuffix(path, ".jsonl.gz"):
			objects++
		case strings.HasSuffix(path, "/_SUCCESS") && strings.Contains(path, "/state/users/snapshot="):
			snapshots++
		}
		return nil
	})
	if objects == 0 || snapshots == 0 {
		t.Errorf("lake %s: %d JSON Lines objects and %d snapshots, want some of each", lakeDir, objects, snapshots)
	}
}
