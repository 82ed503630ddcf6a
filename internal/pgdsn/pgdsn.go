// Package pgdsn names the project's PostgreSQL: the one the tests (internal/pgtest) and
// streamhub bench use unless told otherwise. It is apart from pgtest, whose helpers are
// for tests (they take a testing.TB and skip or fail), so the command need not import
// a test helper to know the address.
package pgdsn

import "os"

// Default is the PostgreSQL of this machine and of CI (.ci/run starts it).
const Default = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Get is STREAMHUB_TEST_PG_DSN, or Default.
func Get() string {
	if dsn := os.Getenv("STREAMHUB_TEST_PG_DSN"); dsn != "" {
		return dsn
	}
	return Default
}
