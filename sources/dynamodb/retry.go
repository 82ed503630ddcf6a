package dynamodb

import (
	"errors"
	"net"

	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Kinds of API errors, the "kind" label of the error metrics.
const (
	kindThrottle = "throttle"
	kindServer   = "server"
	kindExpired  = "expired_iterator"
	kindTrimmed  = "trimmed"
	kindNotFound = "not_found"
	kindNetwork  = "network"
	kindOther    = "other"
)

// errorKind classifies an error from the Streams API.
func errorKind(err error) string {
	var (
		expired  *types.ExpiredIteratorException
		trimmed  *types.TrimmedDataAccessException
		notFound *types.ResourceNotFoundException
		limit    *types.LimitExceededException
		internal *types.InternalServerError
		api      smithy.APIError
		resp     *smithyhttp.ResponseError
		netErr   net.Error
	)
	switch {
	case errors.As(err, &expired):
		return kindExpired
	case errors.As(err, &trimmed):
		return kindTrimmed
	case errors.As(err, &notFound):
		return kindNotFound
	case errors.As(err, &limit):
		return kindThrottle
	case errors.As(err, &internal):
		return kindServer
	}
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "LimitExceededException":
			return kindThrottle
		}
	}
	if errors.As(err, &resp) && resp.HTTPStatusCode() >= 500 {
		return kindServer
	}
	if errors.As(err, &netErr) {
		return kindNetwork
	}
	return kindOther
}
