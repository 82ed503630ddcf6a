package dynamodb

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/streamhub/streamhub/internal/awshttp"
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
	var cfg aws.Config
	if base != nil {
		cfg = base.Copy()
	} else {
		var err error
		if cfg, err = config.LoadDefaultConfig(ctx); err != nil {
			return nil, nil, fmt.Errorf("aws config: %w", err)
		}
	}
	// The loaded client keeps AWS_CA_BUNDLE and the SDK's other HTTP settings.
	cfg.HTTPClient = awshttp.Wrap(cfg.HTTPClient)
	if src.Region != "" {
		cfg.Region = src.Region
	}
	if cfg.Region == "" {
		return nil, nil, fmt.Errorf("no AWS region: set region on the source or AWS_REGION")
	}
	if src.RoleARN != "" {
		// A cross-account reader: the assumed role's credentials are cached and refreshed
		// before they expire by the credentials cache.
		stsClient := sts.NewFromConfig(cfg)
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsClient, src.RoleARN,
			func(o *stscreds.AssumeRoleOptions) {
				o.RoleSessionName = "streamhub-bridge"
				if src.ExternalID != "" {
					o.ExternalID = aws.String(src.ExternalID)
				}
			}))
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
