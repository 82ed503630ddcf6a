package ddbtest

import (
	"net/http"

	"github.com/streamhub/streamhub/internal/awshttp"
)

// HTTPClient returns an HTTP client for the AWS SDK clients of a ddbtest server (set it
// as aws.Config.HTTPClient). Use it: the SDK's default client fails a few requests in a
// thousand against a server on the same machine (see awshttp.Client, which it is; the
// bridge uses it for every AWS client).
func HTTPClient() *http.Client { return awshttp.Client() }
