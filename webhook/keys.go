// Package webhook receives HighLevel's webhooks at POST /webhooks/highlevel:
// it verifies the signature over the raw body (Ed25519 in X-GHL-Signature;
// the legacy RSA scheme in x-wh-signature when enabled), refuses replays
// (a timestamp window and a bounded set of webhookIds seen), turns the
// payload into an events.Change, records and enqueues it and answers at
// once; workers then apply the changes (cache eviction, publication),
// ordered per contact. It fails closed: whatever does not verify changes
// nothing.
package webhook

import (
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// LegacyRSAPublicKeyPEM is the public key HighLevel publishes for the
// legacy x-wh-signature scheme (oauth/WebhookAuthentication.md). It is the
// default key of that scheme; HighLevel announced key rotations by email,
// so it can be replaced with -webhook-rsa-key.
const LegacyRSAPublicKeyPEM = `-----BEGIN PUBLIC KEY-----
MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEAokvo/r9tVgcfZ5DysOSC
Frm602qYV0MaAiNnX9O8KxMbiyRKWeL9JpCpVpt4XHIcBOK4u3cLSqJGOLaPuXw6
dO0t6Q/ZVdAV5Phz+ZtzPL16iCGeK9po6D6JHBpbi989mmzMryUnQJezlYJ3DVfB
csedpinheNnyYeFXolrJvcsjDtfAeRx5ByHQmTnSdFUzuAnC9/GepgLT9SM4nCpv
uxmZMxrJt5Rw+VUaQ9B8JSvbMPpez4peKaJPZHBbU3OdeCVx5klVXXZQGNHOs8gF
3kvoV5rTnXV0IknLBXlcKKAQLZcY/Q9rG6Ifi9c+5vqlvHPCUJFT5XUGG5RKgOKU
J062fRtN+rLYZUV+BjafxQauvC8wSWeYja63VSUruvmNj8xkx2zE/Juc+yjLjTXp
IocmaiFeAO6fUtNjDeFVkhf5LNb59vECyrHD2SQIrhgXpO4Q3dVNA5rw576PwTzN
h/AMfHKIjE4xQA1SZuYJmNnmVZLIZBlQAF9Ntd03rfadZ+yDiOXCCs9FkHibELhC
HULgCsnuDJHcrGNd5/Ddm5hxGQ0ASitgHeMZ0kcIOwKDOzOU53lDza6/Y09T7sYJ
PQe7z0cvj7aE4B+Ax1ZoZGPzpJlZtGXCsu9aTEGEnKzmsFqwcSsnw3JB31IGKAyk
T1hhTiaCeIY/OwwwNUY2yvcCAwEAAQ==
-----END PUBLIC KEY-----
`

// LoadPEM returns the PEM text of s: s itself when it holds a PEM block,
// otherwise the contents of the file s names. Keys are configuration, so
// both a path and the PEM in an environment variable are accepted.
func LoadPEM(s string) ([]byte, error) {
	if strings.Contains(s, "-----BEGIN") {
		return []byte(s), nil
	}
	b, err := os.ReadFile(s)
	if err != nil {
		return nil, fmt.Errorf("webhook key: %w", err)
	}
	return b, nil
}

// parsePublicKey decodes the first PEM block of pemText as a PKIX public key.
func parsePublicKey(pemText []byte) (any, error) {
	block, _ := pem.Decode(pemText)
	if block == nil {
		return nil, errors.New("webhook key: no PEM block")
	}
	if block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("webhook key: PEM block %q, want PUBLIC KEY", block.Type)
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("webhook key: %w", err)
	}
	return k, nil
}

// ParseEd25519Key returns the Ed25519 public key of s (a PEM "PUBLIC KEY"
// block, or the path of a file holding one).
func ParseEd25519Key(s string) (ed25519.PublicKey, error) {
	b, err := LoadPEM(s)
	if err != nil {
		return nil, err
	}
	k, err := parsePublicKey(b)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("webhook key: %T is not an Ed25519 key", k)
	}
	return ek, nil
}

// ParseRSAKey returns the RSA public key of s (a PEM "PUBLIC KEY" block, or
// the path of a file holding one). Keys under 2048 bits are refused.
func ParseRSAKey(s string) (*rsa.PublicKey, error) {
	b, err := LoadPEM(s)
	if err != nil {
		return nil, err
	}
	k, err := parsePublicKey(b)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("webhook key: %T is not an RSA key", k)
	}
	if rk.N.BitLen() < 2048 {
		return nil, fmt.Errorf("webhook key: RSA key of %d bits, want at least 2048", rk.N.BitLen())
	}
	return rk, nil
}

// MarshalPublicKeyPEM returns the PKIX PEM of an Ed25519 or RSA public key,
// for configuration written by tests and the embedded sandbox.
func MarshalPublicKeyPEM(k any) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return nil, fmt.Errorf("webhook key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}
