package processors

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

func openStore(t *testing.T, dir string) *batchedStore {
	t.Helper()
	st, err := StorageBuilder(dir, slog.Default())("topic", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Open(); err != nil {
		t.Fatal(err)
	}
	return st.(*batchedStore)
}

func TestStoreReadsItsOwnUnflushedWrites(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	if err := s.Set("a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("b", []byte("2")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("b"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key  string
		want string
		has  bool
	}{{"a", "1", true}, {"b", "", false}, {"c", "", false}} {
		v, err := s.Get(tc.key)
		has, _ := s.Has(tc.key)
		if err != nil || string(v) != tc.want || has != tc.has {
			t.Errorf("Get(%s) = %q, %v, Has %v; want %q, Has %v", tc.key, v, err, has, tc.want, tc.has)
		}
	}
}

func TestStoreKeepsWritesAndOffsetAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	for i := range flushEntries + 10 { // crosses the size-triggered flush
		if err := s.Set(fmt.Sprintf("k%05d", i), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	s.Delete("k00001")
	s.SetOffset(42)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openStore(t, dir)
	defer s.Close()
	if off, _ := s.GetOffset(-1); off != 42 {
		t.Errorf("offset after reopen = %d, want 42", off)
	}
	if v, _ := s.Get("k00007"); string(v) != "7" {
		t.Errorf("k00007 = %q, want 7", v)
	}
	if v, _ := s.Get("k00001"); v != nil {
		t.Errorf("deleted k00001 = %q, want absent", v)
	}
	it, err := s.Iterator()
	if err != nil {
		t.Fatal(err)
	}
	defer it.Release()
	n := 0
	for it.Next() {
		if string(it.Key()) == offsetKey {
			t.Fatal("iterator shows the offset key")
		}
		n++
	}
	if n != flushEntries+9 {
		t.Errorf("iterated %d keys, want %d", n, flushEntries+9)
	}
}

func TestStoreWithoutOffsetReportsDefault(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	if off, _ := s.GetOffset(-2); off != -2 {
		t.Errorf("GetOffset = %d, want the default -2", off)
	}
}

func TestRangeIteratorSeesUnflushedWrites(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	for _, k := range []string{`["a","1"]`, `["a","2"]`, `["b","1"]`} {
		s.Set(k, []byte("x"))
	}
	it, err := s.IteratorWithRange([]byte(`["a",`), []byte(`["a"-`))
	if err != nil {
		t.Fatal(err)
	}
	defer it.Release()
	var keys []string
	for it.Next() {
		keys = append(keys, string(it.Key()))
	}
	if len(keys) != 2 {
		t.Errorf("range keys %v, want the two of hash key a", keys)
	}
}

func TestCorruptStoreIsRebuiltEmpty(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	s.Set("k", []byte("v"))
	s.Close()
	path := filepath.Join(dir, "topic.0")
	entries, _ := os.ReadDir(path)
	for _, e := range entries {
		if filepath.Ext(e.Name()) == "" && len(e.Name()) > 8 && e.Name()[:8] == "MANIFEST" {
			os.WriteFile(filepath.Join(path, e.Name()), []byte("garbage"), 0o644)
		}
	}
	s = openStore(t, dir)
	defer s.Close()
	if v, _ := s.Get("k"); v != nil {
		t.Errorf("corrupt store was not rebuilt: k = %q", v)
	}
}
