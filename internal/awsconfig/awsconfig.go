// Package awsconfig builds the aws.Config every streamhub AWS client starts from
// (DESIGN.md, "AWS configuration"): config.LoadDefaultConfig, so the credential chain,
// AWS_REGION, AWS_PROFILE and AWS_ENDPOINT_URL_* work unchanged; streamhub's HTTP client
// (internal/awshttp); and the topology's region and role.
package awsconfig

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/streamhub/streamhub/internal/awshttp"
)

// Options adjust the loaded configuration.
type Options struct {
	// Base, when set, replaces LoadDefaultConfig (dev and tests: static credentials for
	// in-process servers).
	Base *aws.Config
	// Region overrides the SDK's.
	Region string
	// DefaultRegion is used when neither the SDK nor Region names one; endpoints of
	// local servers need some region to sign with.
	DefaultRegion string
	// RoleARN is assumed through STS, with ExternalID when set; the credentials are cached
	// and refreshed before they expire.
	RoleARN, ExternalID string
	// SessionName names the assumed-role session. Default "streamhub".
	SessionName string
}

// Load returns the configuration for one client.
func Load(ctx context.Context, o Options) (aws.Config, error) {
	var cfg aws.Config
	if o.Base != nil {
		cfg = o.Base.Copy()
	} else {
		var err error
		if cfg, err = config.LoadDefaultConfig(ctx); err != nil {
			return aws.Config{}, fmt.Errorf("aws config: %w", err)
		}
	}
	// Wrapped, not replaced: the loaded client keeps AWS_CA_BUNDLE and the SDK's other
	// HTTP settings.
	cfg.HTTPClient = awshttp.Wrap(cfg.HTTPClient)
	if o.Region != "" {
		cfg.Region = o.Region
	}
	if cfg.Region == "" {
		cfg.Region = o.DefaultRegion
	}
	if o.RoleARN != "" {
		name := o.SessionName
		if name == "" {
			name = "streamhub"
		}
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), o.RoleARN,
			func(ao *stscreds.AssumeRoleOptions) {
				ao.RoleSessionName = name
				if o.ExternalID != "" {
					ao.ExternalID = aws.String(o.ExternalID)
				}
			}))
	}
	return cfg, nil
}
