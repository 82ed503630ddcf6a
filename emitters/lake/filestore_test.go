package lake

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestFileStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := NewFileStore(dir)

	if _, err := s.Get(ctx, "a/missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing key: %v", err)
	}
	if keys, err := s.List(ctx, "nothing/here/"); err != nil || len(keys) != 0 {
		t.Errorf("list of an absent directory: %v %v", keys, err)
	}
	for _, k := range []string{"t/dt=2024-01-01/hr=00/x.jsonl.gz", "t/dt=2024-01-01/hr=01/y.jsonl.gz", "t2/z", "top"} {
		if err := s.Put(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(ctx, "top", []byte("replaced")); err != nil {
		t.Fatal(err)
	}
	if b, err := s.Get(ctx, "top"); err != nil || string(b) != "replaced" {
		t.Errorf("get after overwrite: %q %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "top")); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode: %v %v", fi.Mode(), err)
	}
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"", []string{"t/dt=2024-01-01/hr=00/x.jsonl.gz", "t/dt=2024-01-01/hr=01/y.jsonl.gz", "t2/z", "top"}},
		{"t/", []string{"t/dt=2024-01-01/hr=00/x.jsonl.gz", "t/dt=2024-01-01/hr=01/y.jsonl.gz"}},
		{"t", []string{"t/dt=2024-01-01/hr=00/x.jsonl.gz", "t/dt=2024-01-01/hr=01/y.jsonl.gz", "t2/z", "top"}},
		{"t/dt=2024-01-01/hr=0", []string{"t/dt=2024-01-01/hr=00/x.jsonl.gz", "t/dt=2024-01-01/hr=01/y.jsonl.gz"}},
		{"t/dt=2024-01-01/hr=01/", []string{"t/dt=2024-01-01/hr=01/y.jsonl.gz"}},
		{"to", []string{"top"}},
		{"top/", nil},
	} {
		got, err := s.List(ctx, tc.prefix)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("List(%q) = %v, want %v", tc.prefix, got, tc.want)
		}
	}
	for _, bad := range []string{"", "/abs", "a//b", "a/../b", "..", "./a", "a/", ".lake-tmp-123"} {
		if err := s.Put(ctx, bad, nil); err == nil {
			t.Errorf("Put(%q) succeeded", bad)
		}
		if _, err := s.Get(ctx, bad); err == nil || errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Get(%q): %v", bad, err)
		}
	}
}

// A crash in the middle of Put leaves a temporary file next to the key; nothing is at
// the key, and List and Get do not show it. The next Put of the key succeeds.
func TestFileStoreCrashMidPut(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := NewFileStore(dir)
	objDir := filepath.Join(dir, "t", "dt=2024-01-01", "hr=00")
	if err := os.MkdirAll(objDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// What Put leaves when the process dies between writing and renaming.
	f, err := os.CreateTemp(objDir, tempPrefix+"*")
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("half an obj"))
	f.Close()

	key := "t/dt=2024-01-01/hr=00/t+0+00000000000000000000.jsonl.gz"
	if _, err := s.Get(ctx, key); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Get after a crash: %v", err)
	}
	if keys, err := s.List(ctx, ""); err != nil || len(keys) != 0 {
		t.Errorf("List after a crash: %v %v", keys, err)
	}
	if _, err := s.Get(ctx, "t/dt=2024-01-01/hr=00/"+filepath.Base(f.Name())); err == nil {
		t.Error("a temporary file is readable as a key")
	}
	if err := s.Put(ctx, key, []byte("whole")); err != nil {
		t.Fatal(err)
	}
	if keys, err := s.List(ctx, "t/"); err != nil || !slices.Equal(keys, []string{key}) {
		t.Errorf("List after the redo: %v %v", keys, err)
	}
	// Put leaves no temporary file of its own behind.
	entries, _ := os.ReadDir(objDir)
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries, want the crash's leftover and the object", len(entries))
	}
}

// A failed Put (here: the key is a directory) leaves the old state and no temporary file.
func TestFileStorePutFailure(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := NewFileStore(dir)
	if err := s.Put(ctx, "a/b", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "a", []byte("y")); err == nil {
		t.Fatal("put over a directory succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "a" {
		t.Errorf("root holds %v", entries)
	}
	ctx2, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Put(ctx2, "c", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("put with a cancelled context: %v", err)
	}
}
