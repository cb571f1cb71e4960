package server

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/crypto/bcrypt"

	"kibo/store"
)

const (
	sessionCookie = "kibo_session"
	sessionTTL    = 14 * 24 * time.Hour
	csrfHeader    = "X-CSRF-Token"
)

// HashPassword hashes a password for storage (bcrypt).
func HashPassword(pw string) (string, error) {
	if len(pw) < 8 {
		return "", &store.ValidationError{Message: "a password needs at least 8 characters"}
	}
	if len(pw) > 72 {
		return "", &store.ValidationError{Message: "a password may have at most 72 bytes"}
	}
	b, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	return string(b), err
}

// NewSecret returns n random bytes, URL-safe base64.
func NewSecret(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// NewAPIToken makes the secret of a bearer token; its prefix says what it is when it
// turns up in a log or a leaked file.
func NewAPIToken() string { return "kibo_" + NewSecret(24) }

// a dummy hash to spend the same time when the e-mail address is unknown
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("kibo-timing-equaliser"), bcrypt.DefaultCost)

// checkPassword signs an agent in, through the throttle: a refused attempt costs no
// bcrypt and gets the wait (errTooManyAttempts).
func (s *Server) checkPassword(c *fiber.Ctx, email, password string) (*store.Agent, error) {
	try, wait := s.logins.begin(email, s.clientIP(c))
	if try == nil {
		return nil, errTooManyAttempts(c, wait)
	}
	a, err := s.store.AgentByEmail(c.UserContext(), email)
	if err != nil {
		bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return nil, errUnauthorized("wrong e-mail address or password")
	}
	if bcrypt.CompareHashAndPassword([]byte(a.PasswordHash), []byte(password)) != nil || a.DisabledAt != nil {
		return nil, errUnauthorized("wrong e-mail address or password")
	}
	try.succeeded()
	return a, nil
}

// checkCurrentPassword is the proof an agent gives to change their own password; it
// goes through the login throttle, or a stolen session could guess it.
func (s *Server) checkCurrentPassword(c *fiber.Ctx, me *store.Agent, password string) error {
	try, wait := s.logins.begin(me.Email, s.clientIP(c))
	if try == nil {
		return errTooManyAttempts(c, wait)
	}
	if bcrypt.CompareHashAndPassword([]byte(me.PasswordHash), []byte(password)) != nil {
		return errForbidden("the current password is wrong")
	}
	try.succeeded()
	return nil
}

func (s *Server) startSession(c *fiber.Ctx, a *store.Agent) error {
	token := NewSecret(32)
	if err := s.store.CreateSession(c.UserContext(), a.ID, token, NewSecret(24), sessionTTL); err != nil {
		return err
	}
	c.Cookie(&fiber.Cookie{
		Name: sessionCookie, Value: token, Path: "/", HTTPOnly: true, SameSite: "Lax",
		Secure: s.cfg.SecureCookies || c.Protocol() == "https", Expires: time.Now().Add(sessionTTL),
	})
	return nil
}

// Locals keys.
const (
	localAgent = "agent"
	localCSRF  = "csrf"
	localVia   = "via"  // "session" or "token"
	localCred  = "cred" // *credential
)

// credential is what authenticated a request: a session cookie or an API token. A
// socket keeps it to check, now and then, that it still holds, and the hub knows its
// pages by ref so that ending it closes them.
type credential struct {
	via     string // "session" or "token"
	secret  string // the cookie or the token (a copy: Fiber reuses its buffers)
	tokenID int64
}

func sessionRef(token string) string { return "session:" + store.HashToken(token) }
func tokenRef(id int64) string       { return "token:" + strconv.FormatInt(id, 10) }

func (cr *credential) ref() string {
	if cr.via == "token" {
		return tokenRef(cr.tokenID)
	}
	return sessionRef(cr.secret)
}

// agent is who the credential stands for now: store.ErrNotFound once it ended (logout,
// expiry, revocation) or its agent was disabled.
func (s *Server) credentialAgent(ctx context.Context, cr *credential) (*store.Agent, error) {
	if cr.via == "token" {
		a, id, err := s.store.TokenAgent(ctx, cr.secret)
		if err == nil && id != cr.tokenID {
			return nil, store.ErrNotFound
		}
		return a, err
	}
	a, _, err := s.store.SessionAgent(ctx, cr.secret)
	return a, err
}

func currentAgent(c *fiber.Ctx) *store.Agent {
	a, _ := c.Locals(localAgent).(*store.Agent)
	return a
}

// authenticate finds the agent behind a request: bearer token first, then the session
// cookie. It sets nothing when there is neither.
func (s *Server) authenticate(c *fiber.Ctx) error {
	ctx := c.UserContext()
	if h := c.Get(fiber.HeaderAuthorization); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return errUnauthorized("the Authorization header must be 'Bearer <token>'")
		}
		secret := strings.Clone(strings.TrimSpace(tok))
		key := "token " + store.HashToken(secret)
		e, ok := s.auth.get(key)
		if !ok {
			a, id, err := s.store.TokenAgent(ctx, secret)
			if err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return errUnauthorized("this API token is unknown or revoked")
				}
				return err
			}
			e = authEntry{agent: a, tokenID: id, ref: tokenRef(id)}
			s.auth.put(key, e)
		}
		a, id := e.agent, e.tokenID
		s.tokenUse.saw(id, s.cfg.Now())
		c.Locals(localAgent, a)
		c.Locals(localVia, "token")
		c.Locals(localCred, &credential{via: "token", secret: secret, tokenID: id})
		return nil
	}
	if tok := c.Cookies(sessionCookie); tok != "" {
		key := "session " + store.HashToken(tok)
		e, ok := s.auth.get(key)
		var err error
		if !ok {
			var a *store.Agent
			var csrf string
			if a, csrf, err = s.store.SessionAgent(ctx, tok); err == nil {
				e = authEntry{agent: a, csrf: csrf, ref: sessionRef(tok)}
				s.auth.put(key, e)
			}
		}
		a, csrf := e.agent, e.csrf
		if err == nil {
			c.Locals(localAgent, a)
			c.Locals(localCSRF, csrf)
			c.Locals(localVia, "session")
			c.Locals(localCred, &credential{via: "session", secret: strings.Clone(tok)})
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return nil
}

// requireAPI answers 401 without credentials and checks CSRF on cookie-authenticated
// writes.
func (s *Server) requireAPI(c *fiber.Ctx) error {
	if err := s.authenticate(c); err != nil {
		return err
	}
	if currentAgent(c) == nil {
		return errUnauthorized("sign in or send 'Authorization: Bearer <token>'")
	}
	if c.Locals(localVia) == "session" && !safeMethod(c.Method()) {
		want, _ := c.Locals(localCSRF).(string)
		got := c.Get(csrfHeader)
		if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			return errForbidden("missing or wrong CSRF token: reload the page")
		}
	}
	return c.Next()
}

// requirePage sends a signed-out browser to the login page.
func (s *Server) requirePage(c *fiber.Ctx) error {
	if err := s.authenticate(c); err != nil {
		return err
	}
	if currentAgent(c) == nil {
		return c.Redirect("/login?next="+url.QueryEscape(c.OriginalURL()), fiber.StatusSeeOther)
	}
	return c.Next()
}

// adminOnly guards the routes that change agents, inboxes and settings.
func adminOnly(c *fiber.Ctx) error {
	if a := currentAgent(c); a == nil || !a.IsAdmin() {
		return errForbidden("only an admin may do this")
	}
	return c.Next()
}

func safeMethod(m string) bool {
	return m == fiber.MethodGet || m == fiber.MethodHead || m == fiber.MethodOptions
}
