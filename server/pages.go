package server

import (
	"bytes"
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"kibo/connectors/chat"
	"kibo/ui"
)

// pageAgent is what a page's script learns about the signed-in agent.
type pageAgent struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
	Role  string `json:"role"`
}

func (s *Server) render(c *fiber.Ctx, status int, name, title string, data any) error {
	p := ui.Page{Title: title, Data: data, Seq: s.hub.Current()}
	if a := currentAgent(c); a != nil {
		p.Agent = pageAgent{a.ID, a.Name, a.Email, a.Role}
		p.CSRF, _ = c.Locals(localCSRF).(string)
	}
	var buf bytes.Buffer
	if err := s.pages.ExecuteTemplate(&buf, name, p); err != nil {
		return err
	}
	c.Set("Content-Security-Policy", pageCSP)
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("Referrer-Policy", "same-origin")
	return c.Status(status).Type("html").Send(buf.Bytes())
}

// pageCSP is the policy of Kibo's own pages. Scripts come only from Kibo's files: the
// pages carry no inline script (what a page needs from the server is a JSON block,
// layout.html), so markup that slipped into a page could not run.
const pageCSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; frame-src 'self'; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// demoCSP is the policy of the demo page, which embeds the widget as a customer's
// site would: its script and socket from Kibo's public address (which may not be the
// address the page was asked at), its styles inline, nothing else.
func demoCSP(base string) string {
	ws := "ws" + strings.TrimPrefix(base, "http")
	return "default-src 'self'; script-src 'self' " + base + "; style-src 'self' 'unsafe-inline'; img-src 'self' data: " + base +
		"; connect-src 'self' " + base + " " + ws + "; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}

func (s *Server) loginPage(c *fiber.Ctx) error {
	if err := s.authenticate(c); err == nil && currentAgent(c) != nil {
		return c.Redirect(safeNext(c.Query("next")), fiber.StatusSeeOther)
	}
	return s.render(c, 200, "login.html", "Sign in", map[string]any{"Error": "", "Email": "", "Next": safeNext(c.Query("next"))})
}

func (s *Server) login(c *fiber.Ctx) error {
	email, password := strings.TrimSpace(c.FormValue("email")), c.FormValue("password")
	next := safeNext(c.FormValue("next"))
	a, err := s.checkPassword(c, email, password)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Status == fiber.StatusTooManyRequests {
			return s.render(c, ae.Status, "login.html", "Sign in", map[string]any{"Error": "Too many wrong passwords. Wait " +
				c.GetRespHeader(fiber.HeaderRetryAfter) + " seconds, then try again.", "Email": email, "Next": next})
		}
		if !errors.As(err, &ae) {
			return err
		}
		return s.render(c, fiber.StatusUnauthorized, "login.html", "Sign in", map[string]any{"Error": "Wrong e-mail address or password.", "Email": email, "Next": next})
	}
	if err := s.startSession(c, a); err != nil {
		return err
	}
	return c.Redirect(next, fiber.StatusSeeOther)
}

// safeNext keeps the redirect after login on this site. next comes from the query or
// the form, already decoded once; it is followed only when it is a clean path on this
// host, and anything else sends the agent to the inbox. A Location header is not
// sanitised on its way out, so a CR or LF here would start a header of the attacker's
// (a session cookie, say); and browsers drop tab, CR and LF from a URL before parsing
// it, so "/\t/evil.example" is "//evil.example" to them. Every decoded form is
// checked too: what is harmless here may be decoded again by the next hop.
func safeNext(next string) string {
	const home = "/inbox"
	if next == "" || len(next) > 2048 {
		return home
	}
	for form, i := next, 0; ; i++ {
		if !cleanPath(form) {
			return home
		}
		dec, err := url.PathUnescape(form)
		if err != nil || dec == form {
			break // nothing more to decode, for us or a browser
		}
		if i == 3 { // still decoding: nobody writes a link like that
			return home
		}
		form = dec
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return home
	}
	return next
}

// cleanPath tells whether p is printable ASCII without backslashes, starting with one
// slash and not two (a scheme-relative URL leaves the site).
func cleanPath(p string) bool {
	if len(p) == 0 || p[0] != '/' || (len(p) > 1 && p[1] == '/') {
		return false
	}
	for i := 0; i < len(p); i++ {
		if b := p[i]; b < 0x20 || b >= 0x7f || b == '\\' {
			return false
		}
	}
	return true
}

func (s *Server) logout(c *fiber.Ctx) error {
	if tok := c.Cookies(sessionCookie); tok != "" {
		if err := s.store.DeleteSession(c.UserContext(), tok); err != nil {
			return err
		}
		s.auth.forget(sessionRef(tok), 0)
		s.hub.DisconnectCredential(sessionRef(tok), reasonSignedOut)
	}
	c.ClearCookie(sessionCookie)
	return c.Redirect("/login", fiber.StatusSeeOther)
}

func (s *Server) inboxPage(c *fiber.Ctx) error { return s.render(c, 200, "inbox.html", "Inbox", nil) }

func (s *Server) settingsPage(c *fiber.Ctx) error {
	return s.render(c, 200, "settings.html", "Settings", nil)
}

func (s *Server) dataRequestsPage(c *fiber.Ctx) error {
	return s.render(c, 200, "datarequests.html", "Data requests", nil)
}

func (s *Server) contactPage(c *fiber.Ctx) error {
	id, err := c.ParamsInt("id")
	if err != nil || id <= 0 {
		return errNotFound("no such contact")
	}
	return s.render(c, 200, "contact.html", "Contact", map[string]any{"ContactID": int64(id)})
}

func (s *Server) staticAsset(c *fiber.Ctx) error {
	f, ok := ui.Asset(c.Params("name"))
	if !ok {
		return errNotFound("no such file")
	}
	return sendFile(c, f, "public, max-age=31536000, immutable")
}

func (s *Server) widgetJS(c *fiber.Ctx) error {
	c.Set("Access-Control-Allow-Origin", "*")
	// the snippet's URL is fixed, so caches must check back: a short max-age keeps
	// pages fast without pinning an old widget for long, and the check costs a 304
	return sendFile(c, ui.WidgetJS(), "public, max-age=300, stale-while-revalidate=86400")
}

// sendFile sends an embedded file: the copy compressed once at start to a browser that
// takes gzip, 304 to one that has this version already.
func sendFile(c *fiber.Ctx, f *ui.File, cacheControl string) error {
	gz := f.Gzip != nil && acceptsGzip(c.Get(fiber.HeaderAcceptEncoding))
	body, etag := f.Body, f.ETag
	if gz {
		body, etag = f.Gzip, f.GzipETag
	}
	c.Set(fiber.HeaderCacheControl, cacheControl)
	c.Set(fiber.HeaderVary, fiber.HeaderAcceptEncoding)
	c.Set(fiber.HeaderETag, etag)
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderContentType, f.ContentType)
	if inm := c.Get(fiber.HeaderIfNoneMatch); inm != "" && (etagListed(inm, f.ETag) || etagListed(inm, f.GzipETag)) {
		return c.SendStatus(fiber.StatusNotModified)
	}
	if gz {
		c.Set(fiber.HeaderContentEncoding, "gzip")
	}
	return c.Send(body)
}

// acceptsGzip tells whether an Accept-Encoding header takes gzip (or anything), not
// refused with q=0.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "x-gzip" && coding != "*" {
			continue
		}
		q := strings.ReplaceAll(strings.ToLower(params), " ", "")
		if strings.HasPrefix(q, "q=") {
			if v, err := strconv.ParseFloat(q[2:], 64); err == nil && v == 0 {
				return false
			}
		}
		return true
	}
	return false
}

// etagListed tells whether an If-None-Match header names etag (or is "*").
func etagListed(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// demoPage shows the widget of the first chat inbox on a sample product page.
func (s *Server) demoPage(c *fiber.Ctx) error {
	inboxes, err := s.store.Inboxes(c.UserContext())
	if err != nil {
		return err
	}
	key := ""
	for _, in := range inboxes {
		if in.Kind == chat.Kind {
			key = in.PublicKey
			break
		}
	}
	if key == "" {
		return errNotFound("there is no chat inbox yet: create one in Settings")
	}
	base := s.baseURL(c)
	var buf bytes.Buffer
	if err := s.pages.ExecuteTemplate(&buf, "demo.html", map[string]any{"BaseURL": base, "PublicKey": key}); err != nil {
		return err
	}
	c.Set("Content-Security-Policy", demoCSP(base))
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("Referrer-Policy", "same-origin")
	return c.Type("html").Send(buf.Bytes())
}

func (s *Server) healthz(c *fiber.Ctx) error {
	if !s.ready.Load() || s.store.Ping(c.UserContext()) != nil {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable"})
	}
	return c.JSON(fiber.Map{"status": "ok"})
}
