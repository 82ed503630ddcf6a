// Package awshttp is the HTTP client every streamhub AWS client uses.
package awshttp

import (
	"io"
	"net/http"
)

// Client returns an HTTP client for aws-sdk-go-v2 (aws.Config.HTTPClient) that avoids a
// connection-closing race in smithy-go against endpoints on the same machine (DynamoDB
// Local, LocalStack, MinIO, ddbtest): the SDK's default client fails a few requests in a
// thousand there.
//
// The SDK wraps a request body in a reader whose WriteTo returns io.EOF once the body is
// closed, and it closes the body as soon as the response arrives. net/http, after
// sending a body of known length, copies the body once more to check that nothing is
// left; when a local server has answered before that check (microseconds), the check
// sees the io.EOF as a failed body read and closes the connection under the response
// being read: "deserialization failed … use of closed network connection". Against AWS
// the network round trip hides the race. This client hides WriteTo from net/http, so the
// check reads (0, io.EOF), which is not an error, and connections are kept.
func Client() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: bodyTransport{t}}
}

type bodyTransport struct{ base http.RoundTripper }

func (b bodyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return b.base.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	r.Body = readOnlyBody{req.Body}
	return b.base.RoundTrip(r)
}

// readOnlyBody is a request body with only Read and Close.
type readOnlyBody struct{ rc io.ReadCloser }

func (b readOnlyBody) Read(p []byte) (int, error) { return b.rc.Read(p) }
func (b readOnlyBody) Close() error               { return b.rc.Close() }

// Doer is aws.HTTPClient: what an aws.Config holds.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Wrap returns c with the same fix as Client: request bodies reach net/http without
// WriteTo. Use it on the client config.LoadDefaultConfig built, so its settings
// (AWS_CA_BUNDLE, proxies, timeouts) are kept; a nil c gives Client().
func Wrap(c Doer) Doer {
	if c == nil {
		return Client()
	}
	if _, ok := c.(bodyHiding); ok {
		return c
	}
	return bodyHiding{c}
}

type bodyHiding struct{ c Doer }

func (b bodyHiding) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody {
		r := req.Clone(req.Context())
		r.Body = readOnlyBody{req.Body}
		req = r
	}
	return b.c.Do(req)
}
