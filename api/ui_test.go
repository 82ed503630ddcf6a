package api_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

func TestUIServesGokaMonitorAndQueryPages(t *testing.T) {
	s := sharedServer(t)
	cfg := shared.broker.cfg
	tests := []struct {
		name string
		path string
		code int
		want []string
	}{
		{"index", "/ui/", http.StatusOK, []string{"/ui/monitor/", "/ui/query/"}},
		{"monitor names every view", "/ui/monitor/", http.StatusOK, tableTopics(t)},
		{"view details", "/ui/monitor/view/0", http.StatusOK, []string{cfg.Tables[0].TableTopic()}},
		{"view stats", "/ui/monitor/data/view/0", http.StatusOK, []string{`"Partitions"`, `"Hwm"`}},
		{"query lists the tables", "/ui/query/", http.StatusOK, []string{"users", "orders", "events", "flags"}},
		{"query by key values", "/ui/query/users/user%231/profile", http.StatusOK, []string{balance, "3f1c2b7e-event"}},
		{"query by encoded key", "/ui/query/users/" + strings.ReplaceAll(profileKey, "#", "%23"), http.StatusOK, []string{balance}},
		{"query a numeric key", "/ui/query/orders/42/x", http.StatusOK, []string{`&#34;id&#34;: 42,`}},
		{"query a missing key", "/ui/query/users/nobody/profile", http.StatusOK, []string{"not found"}},
		// goka's monitor would index one past its views and panic.
		{"view past the end", "/ui/monitor/view/4", http.StatusNotFound, nil},
		{"view stats past the end", "/ui/monitor/data/view/4", http.StatusNotFound, nil},
		{"no processors here", "/ui/monitor/processor/0", http.StatusNotFound, nil},
		{"the API is unaffected", "/v1/tables", http.StatusOK, []string{`"users"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, s.addr, tt.path, nil)
			if r.Code != tt.code {
				t.Fatalf("GET %s: status %d, want %d; body %.500s", tt.path, r.Code, tt.code, r.Body)
			}
			for _, w := range tt.want {
				if !bytes.Contains(r.Body, []byte(w)) {
					t.Errorf("GET %s: body does not contain %q:\n%.2000s", tt.path, w, r.Body)
				}
			}
		})
	}
}

func tableTopics(t *testing.T) []string {
	var out []string
	for _, tb := range shared.broker.cfg.Tables {
		out = append(out, tb.TableTopic())
	}
	if len(out) == 0 {
		t.Fatal("no tables")
	}
	return out
}

func TestUIRequiresTheAPITokens(t *testing.T) {
	sharedServer(t)
	s := newServer(t, shared.broker, "tok-1")
	tests := []struct {
		name   string
		header []string
		code   int
	}{
		{"no token", nil, http.StatusUnauthorized},
		{"wrong bearer", []string{"Authorization", "Bearer tok-2"}, http.StatusUnauthorized},
		{"wrong basic password", []string{"Authorization", "Basic dG9rLTE6dG9rLTI="}, http.StatusUnauthorized}, // tok-1:tok-2
		{"bearer", []string{"Authorization", "Bearer tok-1"}, http.StatusOK},
		{"basic with the token as password", []string{"Authorization", "Basic b3BzOnRvay0x"}, http.StatusOK}, // ops:tok-1
	}
	for _, tt := range tests {
		for _, path := range []string{"/ui/", "/ui/monitor/", "/ui/query/users/user%231/profile"} {
			t.Run(tt.name+" "+path, func(t *testing.T) {
				r := get(t, s.addr, path, nil, tt.header...)
				if r.Code != tt.code {
					t.Fatalf("status %d, want %d; body %.300s", r.Code, tt.code, r.Body)
				}
				if tt.code == http.StatusUnauthorized {
					if got := strings.Join(r.Header.Values("WWW-Authenticate"), ", "); !strings.Contains(got, "Basic") {
						t.Errorf("WWW-Authenticate %q, want a Basic challenge a browser answers", got)
					}
					return
				}
				if !bytes.Contains(r.Body, []byte("<html")) {
					t.Errorf("body is not HTML: %.300s", r.Body)
				}
			})
		}
	}
}
