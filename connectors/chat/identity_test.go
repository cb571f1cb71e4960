package chat

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func signJWT(secret string, claims map[string]any) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	b, _ := json.Marshal(claims)
	p := base64.RawURLEncoding.EncodeToString(b)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(h + "." + p))
	return h + "." + p + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Only what the proof signs is verified: a hash signs the id alone; a JWT signs its
// claims, and an address beside a JWT without an email claim stays unverified.
func TestVerifyIdentityTrustsOnlyWhatIsSigned(t *testing.T) {
	const secret = "s3cret"
	now := time.Now()
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("u-1"))
	hash := hex.EncodeToString(mac.Sum(nil))
	exp := now.Add(time.Hour).Unix()
	cases := []struct {
		name                          string
		in                            identityIn
		email, who                    string
		emailVerified, nameUnverified bool
	}{
		{"hash with email and name", identityIn{ID: "u-1", Hash: hash, Email: "ann@example.com", Name: "Ann"},
			"ann@example.com", "Ann", false, true},
		{"jwt with claims", identityIn{ID: "u-1", Email: "other@example.com", Name: "Other",
			JWT: signJWT(secret, map[string]any{"sub": "u-1", "email": "ann@example.com", "name": "Ann", "exp": exp})},
			"ann@example.com", "Ann", true, false},
		{"jwt without email claim", identityIn{ID: "u-1", Email: "victim@example.com",
			JWT: signJWT(secret, map[string]any{"sub": "u-1", "name": "Ann", "exp": exp})},
			"victim@example.com", "Ann", false, false},
		{"jwt without name claim", identityIn{ID: "u-1", Name: "Typed",
			JWT: signJWT(secret, map[string]any{"sub": "u-1", "exp": exp})},
			"", "Typed", false, true},
		{"attributes on one line, bounded", identityIn{ID: "u-1", Hash: hash, Name: "A\nB " + strings.Repeat("x", 500)},
			"", "A B " + strings.Repeat("x", maxName-4), false, true},
	}
	for _, c := range cases {
		id, err := verifyIdentity(secret, &c.in, now)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if id.Kind != "chat_user" || id.ExternalID != "u-1" || id.Email != c.email || id.Name != c.who ||
			id.EmailVerified != c.emailVerified || id.NameUnverified != c.nameUnverified {
			t.Errorf("%s: got %+v", c.name, id)
		}
	}
}
