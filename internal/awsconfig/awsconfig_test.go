package awsconfig

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

func TestLoadAppliesRegionRoleAndTheHTTPClient(t *testing.T) {
	base := &aws.Config{Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")}
	tests := []struct {
		name       string
		o          Options
		wantRegion string
		assumed    bool
	}{
		{"default region for a local endpoint", Options{Base: base, DefaultRegion: "us-east-1"}, "us-east-1", false},
		{"the topology's region wins", Options{Base: base, Region: "eu-west-1", DefaultRegion: "us-east-1"}, "eu-west-1", false},
		{"no region anywhere", Options{Base: base}, "", false},
		{"a role is assumed through a cache", Options{Base: base, Region: "eu-west-1", RoleARN: "arn:aws:iam::1:role/r", ExternalID: "x"}, "eu-west-1", true},
	}
	for _, tt := range tests {
		cfg, err := Load(context.Background(), tt.o)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if cfg.Region != tt.wantRegion {
			t.Errorf("%s: region %q, want %q", tt.name, cfg.Region, tt.wantRegion)
		}
		if _, cached := cfg.Credentials.(*aws.CredentialsCache); cached != tt.assumed {
			t.Errorf("%s: credentials %T", tt.name, cfg.Credentials)
		}
		if cfg.HTTPClient == nil {
			t.Errorf("%s: no HTTP client", tt.name)
		}
	}
	if base.HTTPClient != nil || base.Region != "" {
		t.Error("Load changed the base config")
	}
}
