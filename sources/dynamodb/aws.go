package dynamodb

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/streamhub/streamhub/internal/awsconfig"
	"github.com/streamhub/streamhub/topology"
)

// StreamsAPI is the part of the DynamoDB Streams client the bridge calls;
// *dynamodbstreams.Client implements it.
type StreamsAPI interface {
	DescribeStream(context.Context, *dynamodbstreams.DescribeStreamInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error)
	GetShardIterator(context.Context, *dynamodbstreams.GetShardIteratorInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error)
	GetRecords(context.Context, *dynamodbstreams.GetRecordsInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error)
}

// TablesAPI finds a table's latest stream; *dynamodb.Client implements it.
type TablesAPI interface {
	DescribeTable(context.Context, *ddb.DescribeTableInput, ...func(*ddb.Options)) (*ddb.DescribeTableOutput, error)
}

// awsClients builds a source's clients the way every AWS client in streamhub is built
// (DESIGN.md, "AWS configuration"): config.LoadDefaultConfig, so the credential chain,
// AWS_REGION, AWS_PROFILE and AWS_ENDPOINT_URL_* work unchanged; then the source's own
// region, endpoint and role. base, when not nil, replaces LoadDefaultConfig (dev and
// tests hand in static credentials for ddbtest).
//
// The Streams client does not retry: the shard reader backs off with jitter itself and
// counts every throttle, and a retry inside the SDK would hide both.
func awsClients(ctx context.Context, src topology.Source, base *aws.Config) (StreamsAPI, TablesAPI, error) {
	cfg, err := awsconfig.Load(ctx, awsconfig.Options{Base: base, Region: src.Region,
		RoleARN: src.RoleARN, ExternalID: src.ExternalID, SessionName: "streamhub-bridge"})
	if err != nil {
		return nil, nil, err
	}
	if cfg.Region == "" {
		return nil, nil, fmt.Errorf("no AWS region: set region on the source or AWS_REGION")
	}
	streams := dynamodbstreams.NewFromConfig(cfg, func(o *dynamodbstreams.Options) {
		if src.Endpoint != "" {
			o.BaseEndpoint = aws.String(src.Endpoint)
		}
		o.Retryer = aws.NopRetryer{}
	})
	tables := ddb.NewFromConfig(cfg, func(o *ddb.Options) {
		// DynamoDB Local and ddbtest serve both APIs on one endpoint.
		if src.Endpoint != "" {
			o.BaseEndpoint = aws.String(src.Endpoint)
		}
	})
	return streams, tables, nil
}
