package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-msk-iam-sasl-signer-go/signer"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/streamhub/streamhub/topology"
)

// tlsConfig turns the topology's tls block into a client *tls.Config, or nil
// when TLS is off. AWS_MSK_IAM implies TLS: MSK serves IAM authentication only
// on its TLS listener (port 9098), so a missing tls block means TLS with the
// system roots rather than a plaintext connection that can never authenticate.
func tlsConfig(k topology.Kafka) (*tls.Config, error) {
	t := k.TLS
	if t == nil {
		if k.SASL == nil || k.SASL.Mechanism != topology.SASLAWSMSKIAM {
			return nil, nil
		}
		t = &topology.TLS{}
	}
	c := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // the operator asked for it in the topology
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka: tls: read ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka: tls: ca_file %s holds no PEM certificate", t.CAFile)
		}
		c.RootCAs = pool
	}
	switch {
	case t.CertFile != "" && t.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka: tls: load cert_file %s / key_file %s: %w", t.CertFile, t.KeyFile, err)
		}
		c.Certificates = []tls.Certificate{cert}
	case t.CertFile != "" || t.KeyFile != "":
		return nil, errors.New("kafka: tls: cert_file and key_file go together: set both for a client certificate, or neither")
	}
	return c, nil
}

// mskTokenTimeout bounds one token generation: with a role to assume it is an
// STS call, otherwise a local signature.
const mskTokenTimeout = 30 * time.Second

// mskTokens generates AWS_MSK_IAM tokens: a SigV4-presigned
// "kafka-cluster:Connect" URL, base64url-encoded, which MSK accepts through
// SASL/OAUTHBEARER. Both sarama and franz-go ask for a token on every new
// connection. The credentials behind it are cached (and refreshed before they
// expire) by the SDK, and a token is reused for its first 5 minutes, so most
// connections cost nothing and the rest a local signature.
type mskTokens struct {
	region string
	creds  aws.CredentialsProvider

	mu      sync.Mutex
	cached  string
	renewAt time.Time
}

// mskTokenReuse is how long before its expiry a token stops being handed out
// again. A token lives 15 minutes; reusing it for its first 5 spares the
// signer when a client opens many connections at once (sarama's
// AccessTokenProvider contract asks for that), and leaves any connection 10
// minutes to authenticate with it.
const mskTokenReuse = 10 * time.Minute

// newMSKTokens resolves the region and credentials the way every streamhub
// AWS client does (config.LoadDefaultConfig: the credential chain,
// AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL_STS). With a role_arn, the
// credentials are those of the assumed role, through one cached STS
// provider: the signer's own GenerateAuthTokenFromRole would call STS for
// every connection.
func newMSKTokens(ctx context.Context, s *topology.SASL) (*mskTokens, error) {
	var opts []func(*config.LoadOptions) error
	if s.Region != "" {
		opts = append(opts, config.WithRegion(s.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: sasl AWS_MSK_IAM: load AWS config: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("kafka: sasl AWS_MSK_IAM: no region: set kafka.sasl.region or AWS_REGION")
	}
	creds := cfg.Credentials
	if s.RoleARN != "" {
		creds = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), s.RoleARN,
			func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = "streamhub" }))
	}
	if creds == nil {
		return nil, errors.New("kafka: sasl AWS_MSK_IAM: no AWS credentials provider")
	}
	return &mskTokens{region: cfg.Region, creds: creds}, nil
}

// token returns an unexpired MSK IAM token.
func (m *mskTokens) token(ctx context.Context) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cached != "" && time.Now().Before(m.renewAt) {
		return m.cached, nil
	}
	ctx, cancel := context.WithTimeout(ctx, mskTokenTimeout)
	defer cancel()
	tok, expiryMs, err := signer.GenerateAuthTokenFromCredentialsProvider(ctx, m.region, m.creds)
	if err != nil {
		return "", fmt.Errorf("kafka: sasl AWS_MSK_IAM: generate token (region %s): %w", m.region, err)
	}
	m.cached, m.renewAt = tok, time.UnixMilli(expiryMs).Add(-mskTokenReuse)
	return tok, nil
}

// checkSASL reports a SASL block that cannot work before any client dials.
func checkSASL(s *topology.SASL) error {
	switch s.Mechanism {
	case topology.SASLPlain, topology.SASLScram512:
		if s.Username == "" || s.Password == "" {
			return fmt.Errorf("kafka: sasl %s needs username and password", s.Mechanism)
		}
	case topology.SASLAWSMSKIAM:
	default:
		return fmt.Errorf("kafka: sasl: unknown mechanism %q (want %s, %s or %s)",
			s.Mechanism, topology.SASLPlain, topology.SASLScram512, topology.SASLAWSMSKIAM)
	}
	return nil
}
