package webhook

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
)

// The signature headers. HighLevel sends the current scheme's signature in
// X-GHL-Signature and, during the transition, the legacy one in
// x-wh-signature (header names are case-insensitive).
const (
	HeaderSignature       = "X-GHL-Signature"
	HeaderLegacySignature = "X-Wh-Signature"
)

// maxSignatureHeader bounds a signature header: an Ed25519 signature is 88
// base64 characters, a 4096-bit RSA one 684.
const maxSignatureHeader = 2048

// Verification failures, named in the log line of a refused webhook.
var (
	errNoSignature      = errors.New("no signature header")
	errSchemeDisabled   = errors.New("signature of a scheme that is not enabled")
	errBadSignature     = errors.New("signature does not verify")
	errMalformedSigHead = errors.New("signature header is not base64")
)

// verifier checks a body's signature against the configured keys.
type verifier struct {
	ed  []ed25519.PublicKey // current scheme; several while a key rotates
	rsa *rsa.PublicKey      // legacy scheme; nil: not accepted
}

// verify checks the signature of body in h and returns the scheme that
// verified it. The current scheme wins when its header is present: a body
// carrying both is never accepted on the weaker one after the stronger one
// failed.
func (v *verifier) verify(h http.Header, body []byte) (string, error) {
	if sig := h.Get(HeaderSignature); sig != "" {
		if len(v.ed) == 0 {
			if h.Get(HeaderLegacySignature) != "" && v.rsa != nil {
				return v.verifyRSA(h.Get(HeaderLegacySignature), body)
			}
			return "", errSchemeDisabled
		}
		raw, err := decodeSig(sig)
		if err != nil {
			return "", err
		}
		for _, k := range v.ed {
			if ed25519.Verify(k, body, raw) {
				return "ed25519", nil
			}
		}
		return "", errBadSignature
	}
	if sig := h.Get(HeaderLegacySignature); sig != "" {
		if v.rsa == nil {
			return "", errSchemeDisabled
		}
		return v.verifyRSA(sig, body)
	}
	return "", errNoSignature
}

func (v *verifier) verifyRSA(sig string, body []byte) (string, error) {
	raw, err := decodeSig(sig)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(body)
	if rsa.VerifyPKCS1v15(v.rsa, crypto.SHA256, sum[:], raw) != nil {
		return "", errBadSignature
	}
	return "rsa", nil
}

// decodeSig decodes a base64 signature (standard alphabet, padded or not).
func decodeSig(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxSignatureHeader {
		return nil, errMalformedSigHead
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return nil, errMalformedSigHead
	}
	return b, nil
}

// SignEd25519 returns the X-GHL-Signature value of body, as HighLevel
// computes it: base64 of the Ed25519 signature of the raw bytes. For the
// sandbox and tests.
func SignEd25519(k ed25519.PrivateKey, body []byte) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(k, body))
}

// SignRSA returns the x-wh-signature value of body: base64 of the RSA
// PKCS #1 v1.5 signature of its SHA-256. For the sandbox and tests.
func SignRSA(k *rsa.PrivateKey, body []byte) (string, error) {
	sum := sha256.Sum256(body)
	sig, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}
