package lake

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// tempPrefix starts the name of a file FileStore.Put is still writing; List and Get never
// show such a file, and no key may name one.
const tempPrefix = ".lake-tmp-"

// FileStore keeps objects as files under a directory: key a/b/c is the file <dir>/a/b/c.
type FileStore struct {
	dir string
}

var _ Store = (*FileStore)(nil)

// NewFileStore returns a store rooted at dir; directories are created as objects need
// them.
func NewFileStore(dir string) *FileStore { return &FileStore{dir: dir} }

// Dir is the store's root directory.
func (s *FileStore) Dir() string { return s.dir }

// path checks key and returns its file. A key is slash-separated, relative, with no
// empty, "." or ".." segment, and no segment starting like a temporary file.
func (s *FileStore) path(key string) (string, error) {
	if key == "" {
		return "", errors.New("lake: empty key")
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.HasPrefix(seg, tempPrefix) || strings.ContainsRune(seg, 0) {
			return "", fmt.Errorf("lake: invalid key %q", key)
		}
	}
	return filepath.Join(s.dir, filepath.FromSlash(key)), nil
}

// Put writes body to a temporary file in the key's directory, syncs it, and renames it
// over the key, then syncs the directory: a reader sees the old file or the new one,
// and a crash leaves at most a temporary file, which List and Get ignore.
func (s *FileStore) Put(ctx context.Context, key string, body []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	path, err := s.path(key)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("lake: put %s: %w", key, err)
	}
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return fmt.Errorf("lake: put %s: %w", key, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(body); err != nil {
		return fmt.Errorf("lake: put %s: %w", key, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("lake: put %s: %w", key, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("lake: put %s: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("lake: put %s: %w", key, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("lake: put %s: %w", key, err)
	}
	ok = true
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("lake: sync %s: %w", dir, err)
	}
	return nil
}

// Get reads the object at key; a missing one is an error satisfying
// errors.Is(err, fs.ErrNotExist).
func (s *FileStore) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	path, err := s.path(key)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("lake: get %s: %w", key, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("lake: get %s: %w", key, err)
	}
	return b, nil
}

// List returns the keys that start with prefix (any string, not only a directory),
// sorted; temporary files are left out.
func (s *FileStore) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Walk the deepest directory the prefix names in full.
	base := ""
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		base = prefix[:i]
	}
	root := s.dir
	if base != "" {
		root = filepath.Join(s.dir, filepath.FromSlash(base))
	}
	var keys []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path == root {
				return fs.SkipAll
			}
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() || strings.HasPrefix(d.Name(), tempPrefix) {
			return nil
		}
		rel, err := filepath.Rel(s.dir, path)
		if err != nil {
			return err
		}
		if key := filepath.ToSlash(rel); strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lake: list %q: %w", prefix, err)
	}
	slices.Sort(keys)
	return keys, nil
}
