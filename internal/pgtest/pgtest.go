// Package pgtest gives tests the project's PostgreSQL (DESIGN.md, "Tests"): the DSN from
// STREAMHUB_TEST_PG_DSN or the default, and a fresh schema per test. Without PostgreSQL a
// test skips loudly on a laptop and fails in CI (CI=true).
package pgtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/streamhub/streamhub/internal/pgdsn"
)

// DefaultDSN is the PostgreSQL of this machine and of CI (.ci/run starts it).
const DefaultDSN = pgdsn.Default

// DSN is STREAMHUB_TEST_PG_DSN, or DefaultDSN.
func DSN() string { return pgdsn.Get() }

// Unreachable skips (laptop) or fails (CI) a test that cannot reach PostgreSQL; what
// names the tests being skipped.
func Unreachable(t testing.TB, err error, what string) {
	t.Helper()
	msg := fmt.Sprintf("!!! PostgreSQL is not reachable (STREAMHUB_TEST_PG_DSN or %s): %v", DefaultDSN, err)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg + " — SKIPPING " + what)
}

// Schema connects and creates a fresh schema, dropped at cleanup with the pool closed.
func Schema(t testing.TB, what string) (*pgxpool.Pool, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, DSN())
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		Unreachable(t, err, what)
	}
	schema := fmt.Sprintf("t_%016x", rand.Uint64())
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := pool.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
		pool.Close()
	})
	return pool, schema
}
