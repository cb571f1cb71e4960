package server

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

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
	c.Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; frame-src 'self'; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("Referrer-Policy", "same-origin")
	return c.Status(status).Type("html").Send(buf.Bytes())
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
		return s.render(c, fiber.StatusUnauthorized, "login.html", "Sign in", map[string]any{"Error": "Wrong e-mail address or password.", "Email": email, "Next": next})
	}
	if err := s.startSession(c, a); err != nil {
		return err
	}
	return c.Redirect(next, fiber.StatusSeeOther)
}

// safeNext keeps redirects after login on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/inbox"
	}
	return next
}

func (s *Server) logout(c *fiber.Ctx) error {
	if tok := c.Cookies(sessionCookie); tok != "" {
		s.store.DeleteSession(c.UserContext(), tok)
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
		if in.Kind == "chat" {
			key = in.PublicKey
			break
		}
	}
	if key == "" {
		return errNotFound("there is no chat inbox yet: create one in Settings")
	}
	var buf bytes.Buffer
	if err := s.pages.ExecuteTemplate(&buf, "demo.html", map[string]any{"BaseURL": s.baseURL(c), "PublicKey": key}); err != nil {
		return err
	}
	return c.Type("html").Send(buf.Bytes())
}

func (s *Server) healthz(c *fiber.Ctx) error {
	if !s.ready.Load() || s.store.Ping(c.UserContext()) != nil {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable"})
	}
	return c.JSON(fiber.Map{"status": "ok"})
}

// shed refuses API requests past MaxInFlight with 503 and Retry-After, so a spike gets
// a clear answer instead of a stall; the expensive routes have tighter limits of their
// own (admit, limits.go).
func (s *Server) shed(c *fiber.Ctx) error {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	if n > int64(s.cfg.MaxInFlight) {
		s.metrics.shed.Add(1)
		return errBusy("Kibo is busy: try again in a moment")
	}
	return c.Next()
}
