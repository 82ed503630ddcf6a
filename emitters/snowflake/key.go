package snowflake

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/pbkdf2"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"strings"
)

// LoadPrivateKey reads the RSA private key of Snowflake key-pair authentication, as the
// Snowflake Kafka connector takes it (snowflake.private.key and
// snowflake.private.key.passphrase):
//
//   - a PEM "PRIVATE KEY" block: unencrypted PKCS#8 (openssl genrsa 2048 | openssl pkcs8
//     -topk8 -nocrypt); passphrase must be empty;
//   - a PEM "ENCRYPTED PRIVATE KEY" block: PKCS#8 encrypted with PBES2 (PBKDF2 with
//     HMAC-SHA1/224/256/384/512, then AES-128/192/256-CBC or 3DES-CBC), as openssl pkcs8
//     -topk8 -v2 aes256 writes it; passphrase is required;
//   - the same DER without the PEM armour, as base64 on one line (the connector's form of
//     snowflake.private.key): encrypted when a passphrase is given;
//   - a PEM "RSA PRIVATE KEY" block (unencrypted PKCS#1) is accepted too.
//
// Errors name the problem: no key found, encrypted without a passphrase, a wrong
// passphrase, an unsupported encryption (PBES1, scrypt, legacy PEM encryption), or a key
// that is not RSA.
func LoadPrivateKey(data []byte, passphrase string) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		s := strings.Join(strings.Fields(string(data)), "")
		if s == "" {
			return nil, errors.New("snowflake: private key: empty")
		}
		if strings.Contains(s, "-----BEGIN") {
			return nil, errors.New("snowflake: private key: malformed PEM (a BEGIN line without a matching END line?)")
		}
		der, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, errors.New("snowflake: private key: neither PEM nor base64 DER")
		}
		if passphrase != "" {
			return decryptPKCS8(der, passphrase)
		}
		return parsePKCS8(der)
	}
	switch block.Type {
	case "PRIVATE KEY":
		if passphrase != "" {
			return nil, errors.New("snowflake: private key: a passphrase was given, but the key is not encrypted (PEM PRIVATE KEY, not ENCRYPTED PRIVATE KEY)")
		}
		return parsePKCS8(block.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		if passphrase == "" {
			return nil, errors.New("snowflake: private key: the key is encrypted (ENCRYPTED PRIVATE KEY): a passphrase is required (snowflake.private.key.passphrase)")
		}
		return decryptPKCS8(block.Bytes, passphrase)
	case "RSA PRIVATE KEY":
		if _, encrypted := block.Headers["Proc-Type"]; encrypted {
			return nil, errors.New("snowflake: private key: legacy PEM encryption (Proc-Type: 4,ENCRYPTED) is not supported: convert with openssl pkcs8 -topk8 -v2 aes256")
		}
		if passphrase != "" {
			return nil, errors.New("snowflake: private key: a passphrase was given, but the key is not encrypted (PEM RSA PRIVATE KEY)")
		}
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("snowflake: private key: PKCS#1: %w", err)
		}
		return k, nil
	default:
		return nil, fmt.Errorf("snowflake: private key: a PEM %q block is not a private key (want PRIVATE KEY or ENCRYPTED PRIVATE KEY)", block.Type)
	}
}

func parsePKCS8(der []byte) (*rsa.PrivateKey, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("snowflake: private key: not PKCS#8: %w", err)
	}
	return rsaKey(k)
}

func rsaKey(k any) (*rsa.PrivateKey, error) {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return nil, errors.New("snowflake: private key: an ECDSA key; Snowflake key-pair authentication needs RSA")
	case ed25519.PrivateKey:
		return nil, errors.New("snowflake: private key: an Ed25519 key; Snowflake key-pair authentication needs RSA")
	default:
		return nil, fmt.Errorf("snowflake: private key: a %T; Snowflake key-pair authentication needs RSA", k)
	}
}

// PKCS#5 v2 (RFC 8018) object identifiers.
var (
	oidPBES2      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidScrypt     = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11591, 4, 11}
	oidPKCS5PBES1 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5}
	oidPKCS12PBE  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1}

	oidHMACSHA1   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACSHA224 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 8}
	oidHMACSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMACSHA384 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}
	oidHMACSHA512 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}

	oidAES128CBC = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidDES3CBC   = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
)

type encryptedPrivateKeyInfo struct {
	Algorithm pkix.AlgorithmIdentifier
	Data      []byte
}

type pbes2Params struct {
	KDF    pkix.AlgorithmIdentifier
	Scheme pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt       []byte
	Iterations int
	KeyLength  int                      `asn1:"optional"`
	PRF        pkix.AlgorithmIdentifier `asn1:"optional"`
}

var prfs = map[string]func() hash.Hash{
	oidHMACSHA1.String():   sha1.New,
	oidHMACSHA224.String(): sha256.New224,
	oidHMACSHA256.String(): sha256.New,
	oidHMACSHA384.String(): sha512.New384,
	oidHMACSHA512.String(): sha512.New,
}

type cbcCipher struct {
	keyLen int
	block  func([]byte) (cipher.Block, error)
	name   string
}

var ciphers = map[string]cbcCipher{
	oidAES128CBC.String(): {16, aes.NewCipher, "AES-128-CBC"},
	oidAES192CBC.String(): {24, aes.NewCipher, "AES-192-CBC"},
	oidAES256CBC.String(): {32, aes.NewCipher, "AES-256-CBC"},
	oidDES3CBC.String():   {24, des.NewTripleDESCipher, "DES-EDE3-CBC"},
}

// maxIterations bounds PBKDF2's work: a corrupt or hostile file must not hang the sink.
const maxIterations = 10_000_000

// decryptPKCS8 decrypts a PKCS#8 EncryptedPrivateKeyInfo (PBES2 only) and parses the key.
func decryptPKCS8(der []byte, passphrase string) (*rsa.PrivateKey, error) {
	var info encryptedPrivateKeyInfo
	if rest, err := asn1.Unmarshal(der, &info); err != nil || len(rest) > 0 {
		return nil, errors.New("snowflake: private key: not an encrypted PKCS#8 key (EncryptedPrivateKeyInfo)")
	}
	alg := info.Algorithm.Algorithm
	switch {
	case alg.Equal(oidPBES2):
	case len(alg) == len(oidPKCS5PBES1)+1 && alg[:len(oidPKCS5PBES1)].Equal(oidPKCS5PBES1),
		len(alg) == len(oidPKCS12PBE)+1 && alg[:len(oidPKCS12PBE)].Equal(oidPKCS12PBE):
		return nil, fmt.Errorf("snowflake: private key: encryption %s is PBES1/PKCS#12 (e.g. openssl pkcs8 -v1), which is not supported: re-encrypt with openssl pkcs8 -topk8 -v2 aes256", alg)
	default:
		return nil, fmt.Errorf("snowflake: private key: unsupported encryption algorithm %s (want PBES2)", alg)
	}
	var params pbes2Params
	if _, err := asn1.Unmarshal(info.Algorithm.Parameters.FullBytes, &params); err != nil {
		return nil, fmt.Errorf("snowflake: private key: malformed PBES2 parameters: %v", err)
	}
	if params.KDF.Algorithm.Equal(oidScrypt) {
		return nil, errors.New("snowflake: private key: the scrypt key derivation is not supported: re-encrypt with openssl pkcs8 -topk8 -v2 aes256 (PBKDF2)")
	}
	if !params.KDF.Algorithm.Equal(oidPBKDF2) {
		return nil, fmt.Errorf("snowflake: private key: unsupported key derivation %s (want PBKDF2)", params.KDF.Algorithm)
	}
	var kdf pbkdf2Params
	if _, err := asn1.Unmarshal(params.KDF.Parameters.FullBytes, &kdf); err != nil {
		return nil, fmt.Errorf("snowflake: private key: malformed PBKDF2 parameters: %v", err)
	}
	prf := sha1.New
	if len(kdf.PRF.Algorithm) > 0 {
		var ok bool
		if prf, ok = prfs[kdf.PRF.Algorithm.String()]; !ok {
			return nil, fmt.Errorf("snowflake: private key: unsupported PBKDF2 PRF %s", kdf.PRF.Algorithm)
		}
	}
	if kdf.Iterations < 1 || kdf.Iterations > maxIterations {
		return nil, fmt.Errorf("snowflake: private key: PBKDF2 iteration count %d is out of range", kdf.Iterations)
	}
	c, ok := ciphers[params.Scheme.Algorithm.String()]
	if !ok {
		return nil, fmt.Errorf("snowflake: private key: unsupported cipher %s (want AES-CBC or DES-EDE3-CBC)", params.Scheme.Algorithm)
	}
	if kdf.KeyLength != 0 && kdf.KeyLength != c.keyLen {
		return nil, fmt.Errorf("snowflake: private key: PBKDF2 key length %d does not fit %s", kdf.KeyLength, c.name)
	}
	var iv []byte
	if _, err := asn1.Unmarshal(params.Scheme.Parameters.FullBytes, &iv); err != nil {
		return nil, fmt.Errorf("snowflake: private key: malformed %s IV: %v", c.name, err)
	}
	key, err := pbkdf2.Key(prf, passphrase, kdf.Salt, kdf.Iterations, c.keyLen)
	if err != nil {
		return nil, fmt.Errorf("snowflake: private key: PBKDF2: %w", err)
	}
	block, err := c.block(key)
	if err != nil {
		return nil, fmt.Errorf("snowflake: private key: %s: %w", c.name, err)
	}
	bs := block.BlockSize()
	if len(iv) != bs || len(info.Data) == 0 || len(info.Data)%bs != 0 {
		return nil, fmt.Errorf("snowflake: private key: malformed %s data (IV %d bytes, data %d bytes)", c.name, len(iv), len(info.Data))
	}
	plain := make([]byte, len(info.Data))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, info.Data)
	wrong := errors.New("snowflake: private key: wrong passphrase (or a corrupt key): decryption did not yield a PKCS#8 key")
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > bs {
		return nil, wrong
	}
	for _, p := range plain[len(plain)-pad:] {
		if int(p) != pad {
			return nil, wrong
		}
	}
	k, err := x509.ParsePKCS8PrivateKey(plain[:len(plain)-pad])
	if err != nil {
		return nil, wrong
	}
	return rsaKey(k)
}
