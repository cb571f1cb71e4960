package chat

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"kibo/connectors"
)

// Visitor tokens and verified identities: who a widget socket speaks for.

// identityIn is the identity a page passes in the hello (window.KiboSettings or the
// script tag's data-identity-* attributes).
type identityIn struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
	Hash  string `json:"hash"`
	JWT   string `json:"jwt"`
}

func newToken() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashToken is the visitor's identity: the token itself is a bearer secret and is
// never stored.
func hashToken(t string) string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:])
}

// verifyIdentity checks a verified identity: hash is hex HMAC-SHA256(secret, id), or
// jwt is an HS256 token signed with the secret whose sub is the id.
//
// Only what the proof signs is trusted. A hash signs the id alone: the email and name
// sent beside it are the page's unsigned word, carried as unverified attributes that
// agents see marked and that never find or join a contact (anyone with a valid hash
// for their own id could otherwise claim a customer's address and read their
// conversation). A JWT signs its claims: its email and name are verified, and an email
// sent beside a JWT without an email claim is as unverified as one beside a hash.
func verifyIdentity(secret string, in *identityIn, now time.Time) (connectors.Identity, error) {
	if secret == "" {
		return connectors.Identity{}, errors.New("this inbox takes no verified identities")
	}
	id := connectors.Identity{Kind: "chat_user", ExternalID: in.ID,
		Email: attribute(in.Email, maxEmail), Name: attribute(in.Name, maxName)}
	id.NameUnverified = id.Name != ""
	switch {
	case in.Hash != "":
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(in.ID))
		want := hex.EncodeToString(mac.Sum(nil))
		if !hmac.Equal([]byte(want), []byte(strings.ToLower(in.Hash))) {
			return connectors.Identity{}, errors.New("the identity hash does not match")
		}
		return id, nil
	case in.JWT != "":
		claims, err := verifyJWT(secret, in.JWT, now)
		if err != nil {
			return connectors.Identity{}, err
		}
		if claims.Sub != in.ID {
			return connectors.Identity{}, errors.New("the identity token is for another user")
		}
		if e := attribute(claims.Email, maxEmail); e != "" {
			id.Email, id.EmailVerified = e, true
		}
		if n := attribute(claims.Name, maxName); n != "" {
			id.Name, id.NameUnverified = n, false
		}
		return id, nil
	}
	return connectors.Identity{}, errors.New("an identity needs a hash or a jwt")
}

// The longest e-mail address and name kept from a widget identity.
const (
	maxEmail = 254
	maxName  = 200
)

// attribute is a visitor's e-mail address or name as kept: trimmed, on one line, at
// most n characters.
func attribute(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		s = string(r[:n])
	}
	return s
}

type jwtClaims struct {
	Sub   string `json:"sub"`
	Email string `json:"email"`
	Name  string `json:"name"`
	Exp   int64  `json:"exp"`
}

func verifyJWT(secret, token string, now time.Time) (*jwtClaims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("the identity token is not a JWT")
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, errors.New("the identity token header is not base64url")
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(hb, &header) != nil || header.Alg != "HS256" {
		return nil, errors.New("the identity token must be signed with HS256")
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		return nil, errors.New("the identity token signature does not match")
	}
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, errors.New("the identity token payload is not base64url")
	}
	var c jwtClaims
	if err := json.Unmarshal(pb, &c); err != nil {
		return nil, errors.New("the identity token payload is not JSON")
	}
	if c.Exp == 0 || now.Unix() >= c.Exp {
		return nil, errors.New("the identity token has expired")
	}
	return &c, nil
}
