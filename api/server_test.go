package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/streamhub/streamhub/api"
)

// tableInfo is one entry of GET /v1/tables.
type tableInfo struct {
	Name             string   `json:"name"`
	Keys             []string `json:"keys"`
	VersionAttribute string   `json:"version_attribute"`
	Topic            string   `json:"topic"`
	TableTopic       string   `json:"table_topic"`
	Ready            bool     `json:"ready"`
	Lag              int64    `json:"lag"`
}

func listTables(t *testing.T, addr string, header ...string) []tableInfo {
	t.Helper()
	r := get(t, addr, "/v1/tables", nil, header...)
	if r.Code != http.StatusOK {
		t.Fatalf("GET /v1/tables: status %d, body %s", r.Code, r.Body)
	}
	var out struct {
		Tables []tableInfo `json:"tables"`
	}
	if err := json.Unmarshal(r.Body, &out); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
	return out.Tables
}

func TestTablesListsEveryTableWithKeysReadinessAndLag(t *testing.T) {
	s := sharedServer(t)
	want := []tableInfo{
		{Name: "users", Keys: []string{"pk", "sk"}, VersionAttribute: "updatedAt", Topic: "apitest.users.cdc", TableTopic: "apitest.users.state-table", Ready: true},
		{Name: "orders", Keys: []string{"id", "sk"}, Topic: "apitest.orders.cdc", TableTopic: "apitest.orders.state-table", Ready: true},
		{Name: "events", Keys: []string{"pk", "seq"}, Topic: "apitest.events.cdc", TableTopic: "apitest.events.state-table", Ready: true},
		{Name: "flags", Keys: []string{"id"}, Topic: "apitest.flags.cdc", TableTopic: "apitest.flags.state-table", Ready: true},
	}
	// Lag is eventually consistent: wait until the polled end offsets show it at 0.
	var got []tableInfo
	waitFor(t, "GET /v1/tables to show every table caught up", func() bool {
		got = listTables(t, s.addr)
		return reflect.DeepEqual(got, want)
	})
	r := get(t, s.addr, "/v1/tables", nil)
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	// lag is a JSON number, not a string.
	var raw struct {
		Tables []map[string]any `json:"tables"`
	}
	if err := json.Unmarshal(r.Body, &raw); err != nil {
		t.Fatal(err)
	}
	for _, tbl := range raw.Tables {
		if _, ok := tbl["lag"].(float64); !ok {
			t.Errorf("table %v: lag %#v is not a number", tbl["name"], tbl["lag"])
		}
	}
}

func TestBearerTokensGuardV1Only(t *testing.T) {
	sharedServer(t)
	s := newServer(t, shared.broker, "tok-1", "tok-2")
	item := "/v1/tables/users/item?pk=user%231&sk=profile"
	tests := []struct {
		name   string
		path   string
		header []string
		code   int
	}{
		{"tables without a token", "/v1/tables", nil, http.StatusUnauthorized},
		{"item without a token", item, nil, http.StatusUnauthorized},
		{"items without a token", "/v1/tables/users/items?pk=user%231", nil, http.StatusUnauthorized},
		{"wrong token", "/v1/tables", []string{"Authorization", "Bearer tok-3"}, http.StatusUnauthorized},
		{"token prefix", "/v1/tables", []string{"Authorization", "Bearer tok-"}, http.StatusUnauthorized},
		{"empty bearer", "/v1/tables", []string{"Authorization", "Bearer "}, http.StatusUnauthorized},
		{"token without scheme", "/v1/tables", []string{"Authorization", "tok-1"}, http.StatusUnauthorized},
		{"basic auth", "/v1/tables", []string{"Authorization", "Basic dG9rLTE6"}, http.StatusUnauthorized},
		{"first token", "/v1/tables", []string{"Authorization", "Bearer tok-1"}, http.StatusOK},
		{"second token", item, []string{"Authorization", "Bearer tok-2"}, http.StatusOK},
		// RFC 7235: the auth scheme is case-insensitive.
		{"lower-case scheme", "/v1/tables", []string{"Authorization", "bearer tok-1"}, http.StatusOK},
		{"healthz needs no token", "/healthz", nil, http.StatusOK},
		{"readyz needs no token", "/readyz", nil, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, _ := url.Parse(tt.path)
			r := get(t, s.addr, u.Path, u.Query(), tt.header...)
			if tt.code == http.StatusUnauthorized {
				wantJSONError(t, r, http.StatusUnauthorized, "bearer token")
				if got := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Errorf("WWW-Authenticate %q, want a Bearer challenge", got)
				}
				return
			}
			if r.Code != tt.code {
				t.Errorf("status %d, want %d; body %s", r.Code, tt.code, r.Body)
			}
		})
	}
}

func TestHealthzAnswersBeforeViewsRecoverReadyzDoesNot(t *testing.T) {
	sharedServer(t)
	// A server that was never run: its views have no partitions, so none has recovered.
	srv, err := api.New(api.Options{Conn: shared.broker.conn, Tables: shared.broker.cfg.Tables, ClientID: "api-test-idle", Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if srv.Ready() {
		t.Error("Ready() before Run, want false")
	}
	h := srv.Handler()
	for path, want := range map[string]int{"/healthz": http.StatusOK, "/readyz": http.StatusServiceUnavailable} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != want {
			t.Errorf("%s: status %d, want %d; body %s", path, rec.Code, want, rec.Body)
		}
	}
}

// readyz reads GET /readyz: the status code and the JSON status and per-table states.
func readyz(t *testing.T, addr string) (int, string, map[string]string) {
	t.Helper()
	r := get(t, addr, "/readyz", nil)
	var body struct {
		Status string            `json:"status"`
		Tables map[string]string `json:"tables"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("decode /readyz %s: %v", r.Body, err)
	}
	return r.Code, body.Status, body.Tables
}

func TestReadyzIs503UntilViewsRecover(t *testing.T) {
	items := testItems()
	b := newBroker(t, items)
	open := gateFetches(t, b)
	s, err := startServer(b)
	if err != nil {
		open()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("view API Run: %v", err)
		}
	})
	t.Cleanup(open) // runs first: a stuck fetch must not hold the shutdown

	if r := get(t, s.addr, "/healthz", nil); r.Code != http.StatusOK {
		t.Errorf("/healthz while recovering: status %d, want 200", r.Code)
	}
	code, status, tables := readyz(t, s.addr)
	if code != http.StatusServiceUnavailable || status != "recovering" {
		t.Errorf("/readyz while recovering: %d %q, want 503 \"recovering\"", code, status)
	}
	if tables["users"] != "recovering" {
		t.Errorf("/readyz tables %v, want users recovering", tables)
	}
	if s.Ready() {
		t.Error("Ready() true while recovering, want false")
	}
	// The lag of a view that applied nothing is every record of its table topic.
	var users int64
	for _, it := range items {
		if it.table == "users" {
			users++
		}
	}
	waitFor(t, "users lag to count every unapplied record", func() bool {
		for _, ti := range listTables(t, s.addr) {
			if ti.Name == "users" {
				return !ti.Ready && ti.Lag == users
			}
		}
		return false
	})

	open()
	waitFor(t, "/readyz 200 once the views recover", func() bool {
		code, status, _ := readyz(t, s.addr)
		return code == http.StatusOK && status == "ready"
	})
	_, _, tables = readyz(t, s.addr)
	if want := map[string]string{"users": "ready", "orders": "ready", "events": "ready", "flags": "ready"}; !reflect.DeepEqual(tables, want) {
		t.Errorf("/readyz tables %v, want %v", tables, want)
	}
	waitFor(t, "users lag 0 after recovery", func() bool {
		return listTables(t, s.addr)[0].Lag == 0
	})
}

func TestReadyzIs503OnceStopping(t *testing.T) {
	sharedServer(t)
	s, err := startServer(shared.broker)
	if err != nil {
		t.Fatal(err)
	}
	defer s.stop()
	if err := s.waitReady(); err != nil {
		t.Fatal(err)
	}
	if code, status, _ := readyz(t, s.addr); code != http.StatusOK || status != "ready" {
		t.Fatalf("/readyz when ready: %d %q, want 200 \"ready\"", code, status)
	}
	s.cancel()
	// Readiness turns false as soon as Run sees the cancel, while it drains and stops the
	// views; and it stays false.
	waitFor(t, "Ready() false after cancel", func() bool { return !s.Ready() })
	if err := s.stop(); err != nil {
		t.Errorf("Run after cancel: %v, want nil", err)
	}
	if s.Ready() {
		t.Error("Ready() after Run returned, want false")
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"status":"stopping"`) {
		t.Errorf("/readyz once stopping: %d %s, want 503 with status stopping", rec.Code, rec.Body)
	}
}

func TestMetricsCountLookupsAndRequests(t *testing.T) {
	s := sharedServer(t)
	get(t, s.addr, "/v1/tables/users/item", url.Values{"pk": {"user#1"}, "sk": {"a"}})
	get(t, s.addr, "/v1/tables/users/item", url.Values{"pk": {"user#1"}, "sk": {"nope"}})
	get(t, s.addr, "/v1/tables/users/items", url.Values{"pk": {"user#1"}})
	get(t, s.addr, "/no/such/route", nil)
	r := get(t, s.addr, "/metrics", nil)
	if r.Code != http.StatusOK {
		t.Fatalf("/metrics: status %d", r.Code)
	}
	body := string(r.Body)
	for _, want := range []string{
		`streamhub_view_lookups_total{op="item",result="found",table="users"}`,
		`streamhub_view_lookups_total{op="item",result="not_found",table="users"}`,
		`streamhub_view_lookups_total{op="items",result="found",table="users"}`,
		`streamhub_view_lookup_seconds_count{op="item",table="users"}`,
		`streamhub_api_requests_total{code="200",route="item"}`,
		`streamhub_api_requests_total{code="404",route="item"}`,
		`streamhub_api_requests_total{code="200",route="items"}`,
		`streamhub_api_requests_total{code="404",route="unknown"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
}

func TestUnknownRouteIsJSON404(t *testing.T) {
	s := sharedServer(t)
	for _, path := range []string{"/", "/nope", "/v1", "/v1/tables/users", "/v1/tables/users/item/extra", "/v2/tables"} {
		t.Run(path, func(t *testing.T) {
			wantJSONError(t, get(t, s.addr, path, nil), http.StatusNotFound, "no route for GET "+path)
		})
	}
}
