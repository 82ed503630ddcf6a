package awshttp

import (
	"io"
	"net/http"
	"testing"
)

// closedEOFBody is a request body like smithy-go's: WriteTo returns io.EOF once closed.
type closedEOFBody struct{ closed bool }

func (b *closedEOFBody) Read([]byte) (int, error) { return 0, io.EOF }
func (b *closedEOFBody) Close() error             { b.closed = true; return nil }
func (b *closedEOFBody) WriteTo(io.Writer) (int64, error) {
	if b.closed {
		return 0, io.EOF
	}
	return 0, nil
}

func TestHTTPClientHidesWriteTo(t *testing.T) {
	var seen io.Reader
	rt := bodyTransport{roundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen = r.Body
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	})}
	body := &closedEOFBody{}
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/", body)
	if _, err := rt.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	if req.Body != io.ReadCloser(body) {
		t.Error("RoundTrip changed the caller's request")
	}
	body.Close()
	// net/http's check for bytes beyond ContentLength: io.Copy(io.Discard, body).
	if _, err := io.Copy(io.Discard, seen); err != nil {
		t.Errorf("copy of a closed body: %v", err)
	}
	if _, err := io.Copy(io.Discard, body); err == nil {
		t.Error("the unwrapped body no longer shows the bug; HTTPClient may not be needed")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestWrapHidesWriteToAndKeepsTheClient(t *testing.T) {
	var seen io.Reader
	inner := doerFunc(func(r *http.Request) (*http.Response, error) {
		seen = r.Body
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	})
	c := Wrap(inner)
	if w, ok := Wrap(c).(bodyHiding); !ok {
		t.Error("Wrap does not return a body-hiding client")
	} else if _, twice := w.c.(bodyHiding); twice {
		t.Error("wrapping twice adds a layer")
	}
	body := &closedEOFBody{}
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/", body)
	if _, err := c.Do(req); err != nil {
		t.Fatal(err)
	}
	body.Close()
	if _, err := io.Copy(io.Discard, seen); err != nil {
		t.Errorf("copy of a closed body: %v", err)
	}
	if Wrap(nil) == nil {
		t.Error("Wrap(nil) is nil")
	}
}

type doerFunc func(*http.Request) (*http.Response, error)

func (f doerFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }
