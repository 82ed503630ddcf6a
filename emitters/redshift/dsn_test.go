package redshift

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

func TestExecFromDSN(t *testing.T) {
	base := &aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")}
	tests := []struct {
		dsn     string
		direct  bool
		api     DataAPI
		wantErr string
	}{
		{dsn: "postgres://u:p@cluster.example:5439/dev", direct: true},
		{dsn: "redshift-data:///dev?cluster=c1&db_user=streamhub", api: DataAPI{ClusterIdentifier: "c1", Database: "dev", DbUser: "streamhub"}},
		{dsn: "redshift-data:///analytics?workgroup=wg&secret_arn=arn:aws:secretsmanager:eu-west-1:1:secret:x&region=eu-west-1",
			api: DataAPI{WorkgroupName: "wg", Database: "analytics", SecretArn: "arn:aws:secretsmanager:eu-west-1:1:secret:x"}},
		{dsn: "redshift-data:///dev", wantErr: "exactly one of cluster= (provisioned) and workgroup="},
		{dsn: "redshift-data:///dev?cluster=a&workgroup=b", wantErr: "exactly one of"},
		{dsn: "redshift-data://?cluster=a", wantErr: "no database"},
		{dsn: "redshift-data:///dev?cluster=a&user=x", wantErr: `unknown parameter "user"`},
	}
	for _, tt := range tests {
		api, direct, err := ExecFromDSN(context.Background(), tt.dsn, base)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: error %v, want %q", tt.dsn, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("%s: %v", tt.dsn, err)
		case tt.direct:
			if direct == nil || direct.DSN != tt.dsn || api != nil {
				t.Errorf("%s: not direct", tt.dsn)
			}
		default:
			if api == nil || api.Client == nil {
				t.Fatalf("%s: no Data API client", tt.dsn)
			}
			got := *api
			got.Client = nil
			if got != tt.api {
				t.Errorf("%s: %+v, want %+v", tt.dsn, got, tt.api)
			}
		}
	}
}
