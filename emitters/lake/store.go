package lake

import "context"

// Store is where lake objects live: a bucket (S3Store) or a directory (FileStore). Keys
// are slash-separated paths relative to the store's root.
type Store interface {
	// Put writes the object at key atomically, replacing any object there: a reader sees
	// the old object or all of the new one, never a part.
	Put(ctx context.Context, key string, body []byte) error
	// Get returns the object at key; a missing key is an error satisfying
	// errors.Is(err, fs.ErrNotExist).
	Get(ctx context.Context, key string) ([]byte, error)
	// List returns the keys under prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
}
