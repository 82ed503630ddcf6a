package redshift

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// DataAPIScheme is the DSN scheme that runs statements through the Redshift Data API:
//
//	redshift-data:///<database>?cluster=<id>&db_user=<user>          (provisioned)
//	redshift-data:///<database>?workgroup=<name>&secret_arn=<arn>    (serverless)
//
// with optional region=, endpoint= (the Data API endpoint) and role_arn= (assumed
// through STS). Any other DSN (postgres://… to the cluster's endpoint, port 5439) is a
// direct PostgreSQL-protocol connection.
const DataAPIScheme = "redshift-data"

// ExecFromDSN turns a redshift sink's DSN into how its statements run; base, when set, is
// the base AWS configuration of the Data API client (tests).
func ExecFromDSN(ctx context.Context, dsn string, base *aws.Config) (*DataAPI, *Direct, error) {
	if !strings.HasPrefix(dsn, DataAPIScheme+"://") {
		return nil, &Direct{DSN: dsn}, nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("dsn: %v", redactErr(err))
	}
	q := u.Query()
	d := &DataAPI{
		ClusterIdentifier: q.Get("cluster"), WorkgroupName: q.Get("workgroup"),
		Database: strings.TrimPrefix(u.Path, "/"), DbUser: q.Get("db_user"), SecretArn: q.Get("secret_arn"),
	}
	for k := range q {
		switch k {
		case "cluster", "workgroup", "db_user", "secret_arn", "region", "endpoint", "role_arn":
		default:
			return nil, nil, fmt.Errorf("dsn: unknown parameter %q (want cluster, workgroup, db_user, secret_arn, region, endpoint, role_arn)", k)
		}
	}
	switch {
	case d.Database == "":
		return nil, nil, fmt.Errorf("dsn: no database: %s:///<database>?…", DataAPIScheme)
	case (d.ClusterIdentifier == "") == (d.WorkgroupName == ""):
		return nil, nil, fmt.Errorf("dsn: give exactly one of cluster= (provisioned) and workgroup= (serverless)")
	}
	d.Client, err = NewDataAPIClient(ctx, ClientOptions{
		Region: q.Get("region"), Endpoint: q.Get("endpoint"), RoleARN: q.Get("role_arn"), AWS: base,
	})
	if err != nil {
		return nil, nil, err
	}
	return d, nil, nil
}

// redactErr keeps a URL parse error from echoing a password.
func redactErr(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
