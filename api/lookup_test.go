package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"testing"
)

func TestItemAnswersTheStoredStateWithExactNumbers(t *testing.T) {
	s := sharedServer(t)
	r := get(t, s.addr, "/v1/tables/users/item", url.Values{"pk": {"user#1"}, "sk": {"profile"}})
	if r.Code != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", r.Code, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	lagHeader(t, r)
	// The balance has more digits than a float64: only the stored bytes are right.
	if !bytes.Contains(r.Body, []byte(`"balance":`+balance)) {
		t.Errorf("body does not carry the balance %s byte for byte: %s", balance, r.Body)
	}
	want := decode(t, []byte(`{
		"key": ["user#1", "profile"],
		"item": {"pk": "user#1", "sk": "profile", "balance": `+balance+`, "updatedAt": 1767225600123},
		"deleted": false,
		"version": {
			"attribute": 1767225600123,
			"sequence_number": "111111111111111111111111",
			"stream": "arn:aws:dynamodb:eu-west-1:123456789012:table/users/stream/2026-01-01T00:00:00.000",
			"approximate_creation_time": "2026-01-01T00:00:00Z",
			"event_id": "3f1c2b7e-event"
		},
		"updated_at": "2026-01-01T00:00:00.123Z",
		"source": {"topic": "apitest.users.cdc", "partition": 2, "offset": 41}
	}`))
	if got := decode(t, r.Body); !reflect.DeepEqual(got, want) {
		t.Errorf("item\n got %s\nwant %v", r.Body, want)
	}
}

func TestItemLookups(t *testing.T) {
	s := sharedServer(t)
	tests := []struct {
		name  string
		path  string
		query url.Values
		code  int
		// key is the item key of a 200 answer; deleted its deleted flag.
		key     string
		deleted bool
		// errs are what a JSON error must mention.
		errs []string
		// lag: the answer comes from a view and carries X-Streamhub-Lag.
		lag bool
	}{
		{
			name: "string keys find the item", path: "/v1/tables/users/item",
			query: url.Values{"pk": {"user#1"}, "sk": {"a"}},
			code:  http.StatusOK, key: `["user#1","a"]`, lag: true,
		},
		{
			name: "absent item is 404 naming the key", path: "/v1/tables/users/item",
			query: url.Values{"pk": {"user#1"}, "sk": {"nope"}},
			code:  http.StatusNotFound, errs: []string{`pk="user#1"`, `sk="nope"`, "users"}, lag: true,
		},
		{
			name: "tombstone is 404 and says how to see it", path: "/v1/tables/users/item",
			query: url.Values{"pk": {"user#1"}, "sk": {"gone"}},
			code:  http.StatusNotFound, errs: []string{"deleted", "include_deleted=true"}, lag: true,
		},
		{
			name: "tombstone with include_deleted is 200 deleted", path: "/v1/tables/users/item",
			query: url.Values{"pk": {"user#1"}, "sk": {"gone"}, "include_deleted": {"true"}},
			code:  http.StatusOK, key: `["user#1","gone"]`, deleted: true, lag: true,
		},
		{
			name: "live item with include_deleted is not deleted", path: "/v1/tables/users/item",
			query: url.Values{"pk": {"user#1"}, "sk": {"a"}, "include_deleted": {"true"}},
			code:  http.StatusOK, key: `["user#1","a"]`, lag: true,
		},
		{
			name: "missing range key is 400 naming it", path: "/v1/tables/users/item",
			query: url.Values{"pk": {"user#1"}},
			code:  http.StatusBadRequest, errs: []string{`"sk"`, "users", "pk, sk"},
		},
		{
			name: "missing hash key is 400 naming it", path: "/v1/tables/users/item",
			query: url.Values{"sk": {"a"}},
			code:  http.StatusBadRequest, errs: []string{`"pk"`},
		},
		{
			name: "unknown table is 404 listing the known ones", path: "/v1/tables/nope/item",
			query: url.Values{"pk": {"user#1"}, "sk": {"a"}},
			code:  http.StatusNotFound, errs: []string{`unknown table "nope"`, "users, orders, events, flags"},
		},
		{
			name: "numeric hash key is found from query text", path: "/v1/tables/orders/item",
			query: url.Values{"id": {"42"}, "sk": {"x"}},
			code:  http.StatusOK, key: `[42,"x"]`, lag: true,
		},
		{
			name: "numeric hash key in another spelling finds the same item", path: "/v1/tables/orders/item",
			query: url.Values{"id": {"042.0"}, "sk": {"y"}},
			code:  http.StatusOK, key: `[42,"y"]`, lag: true,
		},
		{
			name: "numeric hash key of another item is 404", path: "/v1/tables/orders/item",
			query: url.Values{"id": {"4"}, "sk": {"x"}},
			code:  http.StatusNotFound, errs: []string{`id="4"`}, lag: true,
		},
		{
			name: "numeric range key is found from query text", path: "/v1/tables/events/item",
			query: url.Values{"pk": {"a"}, "seq": {"1.50"}},
			code:  http.StatusOK, key: `["a",1.5]`, lag: true,
		},
		{
			name: "hash-only key finds its item", path: "/v1/tables/flags/item",
			query: url.Values{"id": {"o"}},
			code:  http.StatusOK, key: `["o"]`, lag: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, s.addr, tt.path, tt.query)
			if tt.lag {
				lagHeader(t, r)
			}
			if tt.code != http.StatusOK {
				wantJSONError(t, r, tt.code, tt.errs...)
				return
			}
			if r.Code != http.StatusOK {
				t.Fatalf("status %d, want 200; body %s", r.Code, r.Body)
			}
			var got struct {
				Key     json.RawMessage `json:"key"`
				Item    json.RawMessage `json:"item"`
				Deleted bool            `json:"deleted"`
			}
			if err := json.Unmarshal(r.Body, &got); err != nil {
				t.Fatalf("decode %s: %v", r.Body, err)
			}
			if string(got.Key) != tt.key || got.Deleted != tt.deleted {
				t.Errorf("key %s deleted %v, want key %s deleted %v", got.Key, got.Deleted, tt.key, tt.deleted)
			}
			if tt.deleted && string(got.Item) != "null" {
				t.Errorf("tombstone item %s, want null", got.Item)
			}
			if !tt.deleted && !bytes.HasPrefix(got.Item, []byte("{")) {
				t.Errorf("item %s, want the stored object", got.Item)
			}
		})
	}
}

// itemsPage is one answer of /items, keys kept as written.
type itemsPage struct {
	Items []struct {
		Key     json.RawMessage `json:"key"`
		Deleted bool            `json:"deleted"`
	} `json:"items"`
	NextCursor string `json:"next_cursor"`
}

func getItems(t *testing.T, addr, table string, q url.Values) (itemsPage, response) {
	t.Helper()
	r := get(t, addr, "/v1/tables/"+table+"/items", q)
	if r.Code != http.StatusOK {
		t.Fatalf("items %s?%s: status %d, body %s", table, q.Encode(), r.Code, r.Body)
	}
	lagHeader(t, r)
	var p itemsPage
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
	return p, r
}

func (p itemsPage) keys() []string {
	out := make([]string, len(p.Items))
	for i, it := range p.Items {
		out[i] = string(it.Key)
	}
	return out
}

func userKeys(sks ...string) []string {
	out := make([]string, len(sks))
	for i, sk := range sks {
		out[i] = fmt.Sprintf(`["user#1",%q]`, sk)
	}
	return out
}

func TestItemsListsOneHashKeyInRangeKeyOrder(t *testing.T) {
	s := sharedServer(t)
	tests := []struct {
		name  string
		table string
		query url.Values
		want  []string
	}{
		{
			name: "string range keys bytewise, tombstones and longer hash keys left out", table: "users",
			query: url.Values{"pk": {"user#1"}},
			want:  userKeys(usersOne...),
		},
		{
			name: "include_deleted lists the tombstone in its place", table: "users",
			query: url.Values{"pk": {"user#1"}, "include_deleted": {"true"}},
			want:  userKeys("a", "b", "c", "d", "e", "f", "gone", "profile"),
		},
		{
			name: "numeric range keys in numeric order", table: "events",
			query: url.Values{"pk": {"a"}},
			want:  []string{`["a",-1]`, `["a",1.5]`, `["a",2]`, `["a",9]`, `["a",10]`, `["a",100]`},
		},
		{
			name: "numeric range keys with a tombstone", table: "events",
			query: url.Values{"pk": {"a"}, "include_deleted": {"true"}},
			want:  []string{`["a",-1]`, `["a",1.5]`, `["a",2]`, `["a",9]`, `["a",10]`, `["a",50]`, `["a",100]`},
		},
		{
			name: "numeric hash key from query text", table: "orders",
			query: url.Values{"id": {"42"}},
			want:  []string{`[42,"x"]`, `[42,"y"]`},
		},
		{
			name: "hash-only table answers its one item", table: "flags",
			query: url.Values{"id": {"on"}},
			want:  []string{`["on"]`},
		},
		{
			name: "hash-only table does not match a longer key", table: "flags",
			query: url.Values{"id": {"o"}},
			want:  []string{`["o"]`},
		},
		{
			name: "unknown hash key is an empty list", table: "users",
			query: url.Values{"pk": {"nobody"}},
			want:  []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, r := getItems(t, s.addr, tt.table, tt.query)
			if got := p.keys(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("keys\n got %v\nwant %v", got, tt.want)
			}
			if p.NextCursor != "" {
				t.Errorf("next_cursor %q on the only page", p.NextCursor)
			}
			if len(tt.want) == 0 && !bytes.Contains(r.Body, []byte(`"items":[]`)) {
				t.Errorf("empty answer %s, want \"items\":[]", r.Body)
			}
		})
	}
}

func TestItemsPagesThroughEveryItemExactlyOnce(t *testing.T) {
	s := sharedServer(t)
	events := []string{`["a",-1]`, `["a",1.5]`, `["a",2]`, `["a",9]`, `["a",10]`, `["a",100]`}
	tests := []struct {
		table string
		query url.Values
		limit int
		want  []string
	}{
		{"users", url.Values{"pk": {"user#1"}}, 1, userKeys(usersOne...)},
		{"users", url.Values{"pk": {"user#1"}}, 2, userKeys(usersOne...)},
		{"users", url.Values{"pk": {"user#1"}}, 3, userKeys(usersOne...)},
		{"users", url.Values{"pk": {"user#1"}}, 7, userKeys(usersOne...)},
		{"users", url.Values{"pk": {"user#1"}}, 1000, userKeys(usersOne...)},
		{"users", url.Values{"pk": {"user#1"}, "include_deleted": {"true"}}, 3, userKeys("a", "b", "c", "d", "e", "f", "gone", "profile")},
		{"events", url.Values{"pk": {"a"}}, 2, events},
		{"events", url.Values{"pk": {"a"}}, 4, events},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %s limit %d", tt.table, tt.query.Encode(), tt.limit), func(t *testing.T) {
			var got []string
			wantPages := (len(tt.want) + tt.limit - 1) / tt.limit
			cursor := ""
			for page := 1; ; page++ {
				if page > wantPages {
					t.Fatalf("page %d: more pages than the %d that %d items at limit %d need", page, wantPages, len(tt.want), tt.limit)
				}
				q := url.Values{"limit": {fmt.Sprint(tt.limit)}}
				for k, v := range tt.query {
					q[k] = v
				}
				if cursor != "" {
					q.Set("cursor", cursor)
				}
				p, _ := getItems(t, s.addr, tt.table, q)
				if len(p.Items) == 0 || len(p.Items) > tt.limit {
					t.Fatalf("page %d has %d items, want 1 to %d", page, len(p.Items), tt.limit)
				}
				got = append(got, p.keys()...)
				if p.NextCursor == "" {
					break
				}
				cursor = p.NextCursor
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("pages gave\n %v\nwant\n %v", got, tt.want)
			}
		})
	}
}

func TestItemsRejectsBadParameters(t *testing.T) {
	s := sharedServer(t)
	tests := []struct {
		name  string
		query url.Values
		want  string
	}{
		{"limit zero", url.Values{"pk": {"user#1"}, "limit": {"0"}}, "limit"},
		{"limit negative", url.Values{"pk": {"user#1"}, "limit": {"-1"}}, "limit"},
		{"limit above the maximum", url.Values{"pk": {"user#1"}, "limit": {"1001"}}, "limit"},
		{"limit not a number", url.Values{"pk": {"user#1"}, "limit": {"ten"}}, "limit"},
		{"limit a fraction", url.Values{"pk": {"user#1"}, "limit": {"1.5"}}, "limit"},
		{"cursor not base64", url.Values{"pk": {"user#1"}, "cursor": {"!!not a cursor!!"}}, "cursor"},
		{"hash key missing", url.Values{"sk": {"a"}}, `"pk"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, s.addr, "/v1/tables/users/items", tt.query)
			wantJSONError(t, r, http.StatusBadRequest, tt.want)
		})
	}
}

func TestAnswersCarryTheLagOfACaughtUpView(t *testing.T) {
	s := sharedServer(t)
	// The view has applied every record once the end offsets are polled: lag 0.
	waitFor(t, "lag 0 on every table", func() bool {
		for _, ti := range listTables(t, s.addr) {
			if ti.Lag != 0 {
				return false
			}
		}
		return true
	})
	for _, path := range []string{
		"/v1/tables/users/item?pk=user%231&sk=profile",
		"/v1/tables/users/item?pk=user%231&sk=nope",
		"/v1/tables/users/items?pk=user%231",
		"/v1/tables/events/items?pk=a&limit=2",
	} {
		r := get(t, s.addr, path, nil)
		if lag := lagHeader(t, r); lag != 0 {
			t.Errorf("%s: %s %d, want 0 from a caught-up view", path, "X-Streamhub-Lag", lag)
		}
	}
}
