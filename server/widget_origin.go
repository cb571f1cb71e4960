package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/gofiber/fiber/v2"

	"kibo/connectors/chat"
	"kibo/store"
)

// A page on a site that isn't in a chat inbox's allowed origins gets a 403 on the
// socket's upgrade, which a page's script can't read: its widget would say "offline"
// and keep trying forever. So the widget asks /widget/check why its socket never
// opened and tells the visitor plainly that chat isn't available on this site; and the
// admin hears of it, in the log and on the inbox in Settings.

// widgetCheck tells a widget whether the chat is available on its page. The answer is
// the same for an unknown key and a refused origin, so it says nothing about which keys
// exist.
func (s *Server) widgetCheck(c *fiber.Ctx) error {
	c.Set("Access-Control-Allow-Origin", "*")
	c.Set(fiber.HeaderCacheControl, "no-store")
	available := false
	in, err := s.store.InboxByPublicKey(c.UserContext(), c.Query("inbox"))
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return err // not known: the widget keeps trying
	case in.Kind == chat.Kind:
		// A browser sends Origin on this request from another site; from Kibo's own
		// pages (same origin) it sends none, and the widget names its page's origin.
		// Either is only the page's word, as good as what the socket checks: the
		// answer is advice to the widget, the socket is the gate.
		origin := c.Get(fiber.HeaderOrigin)
		if origin == "" {
			origin = c.Query("origin")
		}
		available = origin == "" || chat.OriginAllowed(chatInbox(in).AllowedOrigins, origin)
		if !available {
			s.refusals.refused(s, in, origin)
		}
	}
	return c.JSON(fiber.Map{"available": available})
}

// refusedPages tells the admin about pages refused for their origin: a log line and the
// inbox's state (Settings shows it), at most once a minute per inbox however often
// those pages retry or whatever origins they claim, with a count of the others.
type refusedPages struct {
	mu      sync.Mutex
	byInbox map[int64]*refusedInbox
}

type refusedInbox struct {
	at     time.Time
	others int
}

const refusalReportEvery = time.Minute

func (r *refusedPages) refused(s *Server, in *store.Inbox, origin string) {
	now := time.Now()
	r.mu.Lock()
	if r.byInbox == nil {
		r.byInbox = map[int64]*refusedInbox{}
	}
	last := r.byInbox[in.ID]
	if last != nil && now.Sub(last.at) < refusalReportEvery {
		last.others++
		r.mu.Unlock()
		return
	}
	others := 0
	if last != nil {
		others = last.others
	}
	r.byInbox[in.ID] = &refusedInbox{at: now}
	r.mu.Unlock()

	origin = printable(origin, 200)
	s.log.Warn("chat widget refused on a page whose origin is not in the inbox's allowed origins",
		"inbox", in.ID, "origin", origin, "other_refusals", others)
	msg := fmt.Sprintf("The chat was refused on a page at %s (%s): that site is not in Allowed origins, and its visitors are told the chat isn't available there. If the site is yours, add it.",
		origin, now.UTC().Format("2 Jan 15:04 MST"))
	go func() {
		if err := s.store.SetInboxState(context.Background(), in.ID, "error", msg); err != nil {
			s.log.Warn("record inbox state", "inbox", in.ID, "err", err)
		}
	}()
}

// forget clears an inbox's report once its settings changed, so the next refusal is
// reported at once.
func (r *refusedPages) forget(inboxID int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.byInbox, inboxID)
}

// printable is s on one line, without control characters, at most n runes: an Origin
// header is whatever the client sent.
func printable(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, s)
	if r := []rune(s); len(r) > n {
		s = string(r[:n]) + "…"
	}
	if s == "" {
		s = "(no origin)"
	}
	return s
}
