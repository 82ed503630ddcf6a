package snowflake

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	keyOnce sync.Once
	testKey *rsa.PrivateKey
)

func rsaTestKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	keyOnce.Do(func() {
		var err error
		if testKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return testKey
}

func pkcs8PEM(t testing.TB, k any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// encryptPKCS8 is the inverse of decryptPKCS8 (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC),
// as openssl pkcs8 -topk8 -v2 aes256 writes it.
func encryptPKCS8(t testing.TB, k any, pass string, iter int) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	salt, iv := make([]byte, 16), make([]byte, 16)
	rand.Read(salt)
	rand.Read(iv)
	key, err := pbkdf2.Key(sha256.New, pass, salt, iter, 32)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(key)
	pad := 16 - len(der)%16
	plain := append(der, []byte(strings.Repeat(string(rune(pad)), pad))...)
	ct := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, plain)
	mustMarshal := func(v any) asn1.RawValue {
		b, err := asn1.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return asn1.RawValue{FullBytes: b}
	}
	kdf := pbkdf2Params{Salt: salt, Iterations: iter, PRF: pkix.AlgorithmIdentifier{Algorithm: oidHMACSHA256, Parameters: asn1.NullRawValue}}
	params := pbes2Params{
		KDF:    pkix.AlgorithmIdentifier{Algorithm: oidPBKDF2, Parameters: mustMarshal(kdf)},
		Scheme: pkix.AlgorithmIdentifier{Algorithm: oidAES256CBC, Parameters: mustMarshal(iv)},
	}
	info := encryptedPrivateKeyInfo{Algorithm: pkix.AlgorithmIdentifier{Algorithm: oidPBES2, Parameters: mustMarshal(params)}, Data: ct}
	out, err := asn1.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: out})
}

func TestLoadPrivateKey(t *testing.T) {
	k := rsaTestKey(t)
	plain := pkcs8PEM(t, k)
	enc := encryptPKCS8(t, k, "s3cret pass", 2048)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	bare := base64.StdEncoding.EncodeToString(func() []byte { b, _ := pem.Decode(plain); return b.Bytes }()) // the connector's one-line form
	encBare := base64.StdEncoding.EncodeToString(func() []byte { b, _ := pem.Decode(enc); return b.Bytes }())
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	tests := []struct {
		name, pass string
		data       []byte
		wantErr    string
	}{
		{name: "unencrypted PKCS#8", data: plain},
		{name: "encrypted PKCS#8", data: enc, pass: "s3cret pass"},
		{name: "bare base64", data: []byte(bare)},
		{name: "bare base64 encrypted", data: []byte(encBare), pass: "s3cret pass"},
		{name: "PKCS#1", data: pkcs1},
		{name: "wrong passphrase", data: enc, pass: "nope", wantErr: "wrong passphrase"},
		{name: "no passphrase", data: enc, wantErr: "the key is encrypted (ENCRYPTED PRIVATE KEY): a passphrase is required"},
		{name: "passphrase on a plain key", data: plain, pass: "x", wantErr: "a passphrase was given, but the key is not encrypted"},
		{name: "empty", data: nil, wantErr: "private key: empty"},
		{name: "garbage", data: []byte("not a key!"), wantErr: "neither PEM nor base64 DER"},
		{name: "truncated PEM", data: plain[:40], wantErr: "malformed PEM"},
		{name: "certificate", data: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), wantErr: `a PEM "CERTIFICATE" block is not a private key`},
		{name: "ECDSA", data: pkcs8PEM(t, ec), wantErr: "an ECDSA key; Snowflake key-pair authentication needs RSA"},
		{name: "corrupt PKCS#8", data: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{0x30, 0}}), wantErr: "not PKCS#8"},
		{name: "corrupt encrypted", data: pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1, 2}}), pass: "x", wantErr: "not an encrypted PKCS#8 key"},
		{name: "legacy PEM encryption", data: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: []byte{1}}), wantErr: "legacy PEM encryption"},
	}
	for _, tt := range tests {
		got, err := LoadPrivateKey(tt.data, tt.pass)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: error %v, want %q", tt.name, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case !got.Equal(k):
			t.Errorf("%s: a different key", tt.name)
		}
	}
}

// TestLoadPrivateKeyOpenSSL reads keys written by openssl, as the Snowflake docs make
// them (genrsa | pkcs8 -topk8 -v2 aes256, and -nocrypt), and refuses its PBES1 form.
func TestLoadPrivateKeyOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		// openssl makes the keys as Snowflake's docs tell users to; without it the test
		// skips loudly on a laptop and fails in CI, where .ci/run installs it.
		msg := "!!! openssl is not installed (apt-get install openssl) — SKIPPING the openssl interop test"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	raw := filepath.Join(dir, "raw.pem")
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("genrsa", "-out", raw, "2048")
	for _, c := range []struct {
		name, pass, wantErr string
		args                []string
	}{
		{name: "v2 aes256", pass: "p@ss word", args: []string{"-v2", "aes256", "-passout", "pass:p@ss word"}},
		{name: "v2 aes128 sha512", pass: "x", args: []string{"-v2", "aes128", "-v2prf", "hmacWithSHA512", "-passout", "pass:x"}},
		{name: "v2 des3", pass: "x", args: []string{"-v2", "des3", "-passout", "pass:x"}},
		{name: "nocrypt", args: []string{"-nocrypt"}},
		{name: "scrypt", pass: "x", args: []string{"-scrypt", "-passout", "pass:x"}, wantErr: "scrypt"},
	} {
		out := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".p8")
		run(append([]string{"pkcs8", "-topk8", "-inform", "PEM", "-in", raw, "-out", out}, c.args...)...)
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		k, err := LoadPrivateKey(data, c.pass)
		switch {
		case c.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s: error %v, want %q", c.name, err, c.wantErr)
			}
		case err != nil:
			t.Errorf("%s: %v", c.name, err)
		case k.N.BitLen() != 2048:
			t.Errorf("%s: %d bits", c.name, k.N.BitLen())
		}
	}
}
