package kafka

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/streamhub/streamhub/topology"
)

func TestSASLRoundTripsForSaramaAndFranzGo(t *testing.T) {
	t.Parallel()
	e := startEmbedded(t,
		kfake.EnableSASL(),
		kfake.Superuser(topology.SASLPlain, "alice", "plain-secret"),
		kfake.Superuser(topology.SASLScram512, "bob", "scram-secret"),
		kfake.SeedTopics(2, "auth"),
	)
	tests := []struct {
		mechanism, user, pass string
	}{
		{topology.SASLPlain, "alice", "plain-secret"},
		{topology.SASLScram512, "bob", "scram-secret"},
	}
	for _, tt := range tests {
		k := testKafka(e.Addrs()...)
		k.SASL = &topology.SASL{Mechanism: tt.mechanism, Username: tt.user, Password: tt.pass}
		t.Run(tt.mechanism+"/sarama", func(t *testing.T) {
			cfg, err := SaramaConfig(k)
			if err != nil {
				t.Fatal(err)
			}
			saramaRoundTrip(t, cfg, e.Addrs(), "auth")
		})
		t.Run(tt.mechanism+"/franz-go", func(t *testing.T) {
			opts, err := ClientOpts(k, e.Addrs())
			if err != nil {
				t.Fatal(err)
			}
			franzRoundTrip(t, opts, "auth")
		})
		t.Run(tt.mechanism+"/wrong password", func(t *testing.T) {
			k.SASL = &topology.SASL{Mechanism: tt.mechanism, Username: tt.user, Password: "wrong"}
			conn, err := Connect(testContext(t), k)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// A real broker answers SASL_AUTHENTICATION_FAILED; kfake
			// hangs up instead. Both must point at the credentials.
			err = conn.Ping(testContext(t))
			if err == nil {
				t.Fatal("franz-go connected with a wrong password")
			}
			if !strings.Contains(err.Error(), saslHint) {
				t.Errorf("Ping error does not point at the credentials: %v", err)
			}
			cfg, err := SaramaConfig(k)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Metadata.Retry.Max = 0
			if c, err := sarama.NewClient(e.Addrs(), cfg); err == nil {
				c.Close()
				t.Fatal("sarama connected with a wrong password")
			}
		})
	}
}

func TestSASLConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		sasl topology.SASL
		want string
	}{
		{"unknown mechanism", topology.SASL{Mechanism: "GSSAPI"}, `unknown mechanism "GSSAPI"`},
		{"plain without password", topology.SASL{Mechanism: topology.SASLPlain, Username: "u"}, "needs username and password"},
		{"scram without user", topology.SASL{Mechanism: topology.SASLScram512, Password: "p"}, "needs username and password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := testKafka("b:9092")
			k.SASL = &tt.sasl
			if _, err := SaramaConfig(k); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("SaramaConfig: err = %v, want %q", err, tt.want)
			}
			if _, err := ClientOpts(k, k.Brokers); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ClientOpts: err = %v, want %q", err, tt.want)
			}
		})
	}
}

// testPKI is a CA, a server certificate for 127.0.0.1 and a client
// certificate, written as PEM files.
type testPKI struct {
	dir               string
	caFile            string
	certFile, keyFile string // client
	server            tls.Certificate
	pool              *x509.CertPool
	otherCAFile       string // a CA that signed nothing here
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir()}
	caKey, caCert, caDER := newCA(t, "streamhub test CA")
	p.caFile = writePEM(t, p.dir, "ca.pem", "CERTIFICATE", caDER)
	_, _, otherDER := newCA(t, "someone else's CA")
	p.otherCAFile = writePEM(t, p.dir, "other-ca.pem", "CERTIFICATE", otherDER)
	p.pool = x509.NewCertPool()
	p.pool.AddCert(caCert)

	serverKey, serverDER := newLeaf(t, caKey, caCert, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "broker"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	p.server = tls.Certificate{Certificate: [][]byte{serverDER}, PrivateKey: serverKey}

	clientKey, clientDER := newLeaf(t, caKey, caCert, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "streamhub"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	p.certFile = writePEM(t, p.dir, "client.pem", "CERTIFICATE", clientDER)
	keyDER, err := x509.MarshalECPrivateKey(clientKey)
	if err != nil {
		t.Fatal(err)
	}
	p.keyFile = writePEM(t, p.dir, "client-key.pem", "EC PRIVATE KEY", keyDER)
	return p
}

// serial numbers certificates; tests making PKIs run in parallel.
var serial atomic.Int64

func newCA(t *testing.T, name string) (*ecdsa.PrivateKey, *x509.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial.Add(1)),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert, der
}

func newLeaf(t *testing.T, caKey *ecdsa.PrivateKey, ca *x509.Certificate, tmpl *x509.Certificate) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(serial.Add(1))
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return key, der
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTLSRoundTripsForSaramaAndFranzGo(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	tests := []struct {
		name   string
		server *tls.Config
		client topology.TLS
	}{
		{
			name:   "server certificate from ca_file",
			server: &tls.Config{Certificates: []tls.Certificate{pki.server}},
			client: topology.TLS{CAFile: pki.caFile},
		},
		{
			name: "mutual TLS with cert_file and key_file",
			server: &tls.Config{
				Certificates: []tls.Certificate{pki.server},
				ClientAuth:   tls.RequireAndVerifyClientCert,
				ClientCAs:    pki.pool,
			},
			client: topology.TLS{CAFile: pki.caFile, CertFile: pki.certFile, KeyFile: pki.keyFile},
		},
		{
			name:   "server_name overrides the dialed host",
			server: &tls.Config{Certificates: []tls.Certificate{pki.server}},
			client: topology.TLS{CAFile: pki.caFile, ServerName: "localhost"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startEmbedded(t, kfake.TLS(tt.server), kfake.SeedTopics(1, "tls"))
			k := testKafka(e.Addrs()...)
			k.TLS = &tt.client
			cfg, err := SaramaConfig(k)
			if err != nil {
				t.Fatal(err)
			}
			saramaRoundTrip(t, cfg, e.Addrs(), "tls")
			opts, err := ClientOpts(k, e.Addrs())
			if err != nil {
				t.Fatal(err)
			}
			franzRoundTrip(t, opts, "tls")
		})
	}
}

func TestPingExplainsTLSMistakes(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	e := startEmbedded(t, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{pki.server}}))
	tests := []struct {
		name string
		tls  *topology.TLS
		want string
	}{
		{"untrusted CA", &topology.TLS{CAFile: pki.otherCAFile}, "is kafka.tls.ca_file right?"},
		{"wrong server name", &topology.TLS{CAFile: pki.caFile, ServerName: "broker.example"}, "set kafka.tls.server_name?"},
		{"plaintext to a TLS port", nil, "is TLS needed (or not)?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := testKafka(e.Addrs()...)
			k.TLS = tt.tls
			conn, err := Connect(testContext(t), k)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			err = conn.Ping(testContext(t))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "kafka: no broker reachable at "+e.Addrs()[0]) {
				t.Fatalf("err = %v\nwant the address and %q", err, tt.want)
			}
		})
	}
}

func TestTLSConfigErrors(t *testing.T) {
	pki := newTestPKI(t)
	notPEM := filepath.Join(pki.dir, "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	tests := []struct {
		name string
		tls  topology.TLS
		want string
	}{
		{"missing ca_file", topology.TLS{CAFile: filepath.Join(pki.dir, "nope.pem")}, "read ca_file"},
		{"ca_file without PEM", topology.TLS{CAFile: notPEM}, "holds no PEM certificate"},
		{"cert_file without key_file", topology.TLS{CertFile: pki.certFile}, "cert_file and key_file go together"},
		{"key that does not match", topology.TLS{CertFile: pki.certFile, KeyFile: pki.caFile}, "load cert_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := testKafka("b:9092")
			k.TLS = &tt.tls
			if _, err := SaramaConfig(k); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("SaramaConfig: err = %v, want %q", err, tt.want)
			}
			if _, err := ClientOpts(k, k.Brokers); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ClientOpts: err = %v, want %q", err, tt.want)
			}
		})
	}
}

// mskEnv points the AWS SDK at static credentials and nothing else, so no
// test reaches AWS.
func mskEnv(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDSTREAMHUBTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// decodeMSKToken checks the token is base64url without padding of a presigned
// kafka-cluster:Connect URL and returns that URL.
func decodeMSKToken(t *testing.T, tok string) *url.URL {
	t.Helper()
	if tok == "" {
		t.Fatal("empty token")
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		t.Fatalf("token is not unpadded base64url: %v", err)
	}
	u, err := url.Parse(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	if u.Host != "kafka.eu-west-1.amazonaws.com" || u.Query().Get("Action") != "kafka-cluster:Connect" || u.Query().Get("X-Amz-Signature") == "" {
		t.Fatalf("token is not a signed kafka-cluster:Connect URL for eu-west-1: %s", raw)
	}
	return u
}

func TestMSKIAMTokenIsWiredIntoSaramaAndFranzGo(t *testing.T) {
	mskEnv(t)
	k := testKafka("b-1.msk.example:9098")
	k.SASL = &topology.SASL{Mechanism: topology.SASLAWSMSKIAM}

	cfg, err := SaramaConfig(k)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Net.SASL.Mechanism != sarama.SASLTypeOAuth || !cfg.Net.TLS.Enable {
		t.Fatalf("sarama: mechanism %s, TLS %v; want OAUTHBEARER over TLS", cfg.Net.SASL.Mechanism, cfg.Net.TLS.Enable)
	}
	tok, err := cfg.Net.SASL.TokenProvider.Token()
	if err != nil {
		t.Fatal(err)
	}
	u := decodeMSKToken(t, tok.Token)
	if !strings.HasPrefix(u.Query().Get("X-Amz-Credential"), "AKIDSTREAMHUBTEST/") {
		t.Errorf("token signed with %q, want the environment's key", u.Query().Get("X-Amz-Credential"))
	}

	mech, err := franzSASL(k.SASL)
	if err != nil {
		t.Fatal(err)
	}
	if mech.Name() != "OAUTHBEARER" {
		t.Fatalf("franz-go mechanism %s, want OAUTHBEARER", mech.Name())
	}
	_, first, err := mech.Authenticate(testContext(t), "b-1.msk.example:9098")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(first), "auth=Bearer ")
	if !ok {
		t.Fatalf("client-first message carries no bearer token: %q", first)
	}
	decodeMSKToken(t, strings.TrimRight(rest, "\x01"))
}

func TestMSKIAMWithRoleARNSignsWithTheAssumedRole(t *testing.T) {
	mskEnv(t)
	var calls int
	sts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if r.Form.Get("Action") != "AssumeRole" || r.Form.Get("RoleArn") != "arn:aws:iam::123456789012:role/msk" {
			http.Error(w, "unexpected request "+r.Form.Encode(), http.StatusBadRequest)
			return
		}
		calls++
		w.Header().Set("Content-Type", "text/xml")
		w.Write([]byte(`<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials>
      <AccessKeyId>ASIAASSUMEDROLE</AccessKeyId>
      <SecretAccessKey>assumed-secret</SecretAccessKey>
      <SessionToken>assumed-session</SessionToken>
      <Expiration>` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + `</Expiration>
    </Credentials>
    <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/msk/streamhub</Arn><AssumedRoleId>AROA:streamhub</AssumedRoleId></AssumedRoleUser>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>
</AssumeRoleResponse>`))
	}))
	defer sts.Close()
	t.Setenv("AWS_ENDPOINT_URL_STS", sts.URL)

	k := testKafka("b-1.msk.example:9098")
	k.SASL = &topology.SASL{Mechanism: topology.SASLAWSMSKIAM, Region: "eu-west-1", RoleARN: "arn:aws:iam::123456789012:role/msk"}
	cfg, err := SaramaConfig(k)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		tok, err := cfg.Net.SASL.TokenProvider.Token()
		if err != nil {
			t.Fatal(err)
		}
		u := decodeMSKToken(t, tok.Token)
		if !strings.HasPrefix(u.Query().Get("X-Amz-Credential"), "ASIAASSUMEDROLE/") || u.Query().Get("X-Amz-Security-Token") != "assumed-session" {
			t.Fatalf("token not signed with the assumed role: %s", u)
		}
	}
	if calls != 1 {
		t.Errorf("STS AssumeRole called %d times for 3 tokens, want 1 (cached)", calls)
	}
}

func TestMSKIAMWithoutRegionSaysWhereToSetIt(t *testing.T) {
	mskEnv(t)
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	k := testKafka("b-1.msk.example:9098")
	k.SASL = &topology.SASL{Mechanism: topology.SASLAWSMSKIAM}
	if _, err := SaramaConfig(k); err == nil || !strings.Contains(err.Error(), "set kafka.sasl.region or AWS_REGION") {
		t.Fatalf("err = %v", err)
	}
}
