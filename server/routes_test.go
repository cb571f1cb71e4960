package server

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// Who may call a route.
const (
	anyone      = "anyone"         // public: pages, webhooks (their signature is the channel's business), the widget
	agent       = "agent"          // any signed-in agent
	admin       = "admin"          // admins only
	adminOrSelf = "admin, or self" // an agent on their own record, an admin on anyone's
)

// routeGuards is every route the server answers and who may call it. A route added to
// routes.go and not here fails TestEveryRouteHasItsGuard, and so does one whose guard
// differs from what is written here.
var routeGuards = map[string]string{
	"GET /healthz":      anyone,
	"GET /metrics":      anyone,
	"GET /widget.js":    anyone,
	"GET /static/:name": anyone,
	"GET /demo":         anyone,
	"GET /widget/ws":    anyone,
	"GET /widget/check": anyone,
	"GET /login":        anyone,
	"POST /login":       anyone,
	"POST /logout":      anyone,
	"GET /status":       anyone,
	"GET /status.json":  anyone,

	"GET /webhooks/:kind/:inbox":  anyone,
	"POST /webhooks/:kind/:inbox": anyone,

	"GET /":              anyone, // to /inbox
	"GET /inbox":         agent,
	"GET /contacts/:id":  agent,
	"GET /settings":      agent,
	"GET /data-requests": agent,
	"GET /incidents":     agent,
	"GET /reports":       agent,

	"GET /api/v1/me":     agent,
	"GET /api/v1/counts": agent,
	"GET /api/v1/tags":   agent,

	"GET /api/v1/conversations":               agent,
	"GET /api/v1/conversations/:id":           agent,
	"PATCH /api/v1/conversations/:id":         agent,
	"DELETE /api/v1/conversations/:id":        admin,
	"GET /api/v1/conversations/:id/messages":  agent,
	"POST /api/v1/conversations/:id/messages": agent,
	"POST /api/v1/conversations/:id/read":     agent,
	"POST /api/v1/messages/:id/retry":         agent,
	"GET /api/v1/attachments/:id":             agent,

	"GET /api/v1/contacts":            agent,
	"GET /api/v1/contacts/:id":        agent,
	"PATCH /api/v1/contacts/:id":      agent,
	"POST /api/v1/contacts/:id/merge": agent,

	"GET /api/v1/agents":            agent,
	"POST /api/v1/agents":           admin,
	"PATCH /api/v1/agents/:id":      adminOrSelf,
	"GET /api/v1/inboxes":           agent,
	"GET /api/v1/inboxes/:id":       agent,
	"POST /api/v1/inboxes":          admin,
	"PATCH /api/v1/inboxes/:id":     admin,
	"POST /api/v1/inboxes/:id/test": admin,
	// a chat inbox's new identity secret, shown once
	"POST /api/v1/inboxes/:id/identity-secret": admin,

	"GET /api/v1/tokens":        agent, // their own; an admin sees all
	"POST /api/v1/tokens":       agent,
	"DELETE /api/v1/tokens/:id": agent, // their own; an admin any
	"GET /api/v1/audit":         admin,

	"GET /api/v1/data-requests":           agent,
	"GET /api/v1/data-requests/counts":    agent,
	"POST /api/v1/data-requests":          agent,
	"GET /api/v1/data-requests/:id":       agent,
	"PATCH /api/v1/data-requests/:id":     agent,
	"GET /api/v1/data-requests/:id/draft": agent,
	"GET /api/v1/contacts/:id/export":     agent,
	"POST /api/v1/contacts/:id/erase":     admin,
	"GET /api/v1/settings":                agent,
	"PATCH /api/v1/settings":              admin,
	"GET /api/v1/notifications":           agent,
	"POST /api/v1/notifications/read":     agent,

	"GET /api/v1/incidents":                 agent,
	"POST /api/v1/incidents":                admin,
	"GET /api/v1/incidents/:id":             agent,
	"POST /api/v1/incidents/:id/updates":    admin,
	"POST /api/v1/conversations/bulk":       agent,
	"POST /api/v1/conversations/bulk-reply": agent,
	"GET /api/v1/sla":                       agent,
	"PATCH /api/v1/sla":                     admin,
	"GET /api/v1/alerts":                    agent,
	"PATCH /api/v1/alerts":                  admin,
	"GET /api/v1/reports":                   agent,

	"GET /api/v1/ws": agent,
}

// Every route in the route table has its guard, checked by calling it: anonymously,
// as an agent and as an admin, each answer a refusal (401, 403, or a page's redirect
// to the login) or not, as routeGuards says.
func TestEveryRouteHasItsGuard(t *testing.T) {
	k := startKibo(t)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	param := regexp.MustCompile(`:[a-z_]+`)
	// call answers whether the route refused the caller, and what it answered
	call := func(method, path, token string) (bool, string) {
		t.Helper()
		body, ctype := "{}", "application/json"
		if path == "/login" && method == "POST" {
			// the form's own 401 for a wrong password is not the guard's
			body, ctype = url.Values{"email": {"sam@example.com"}, "password": {"agent-password"}}.Encode(), "application/x-www-form-urlencoded"
		}
		req, _ := http.NewRequest(method, k.base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		refused := resp.StatusCode == 401 || resp.StatusCode == 403 || strings.HasPrefix(loc, "/login?next=")
		return refused, fmt.Sprintf("%d %s%s", resp.StatusCode, loc, b)
	}
	seen := map[string]bool{}
	for _, r := range k.srv.App().GetRoutes(true) {
		switch r.Method {
		case "HEAD", "OPTIONS", "CONNECT", "TRACE", "USE":
			continue
		}
		key := r.Method + " " + r.Path
		if seen[key] {
			continue
		}
		seen[key] = true
		guard, ok := routeGuards[key]
		if !ok {
			t.Errorf("%s is not in routeGuards: add it with who may call it", key)
			continue
		}
		path := param.ReplaceAllString(r.Path, "999999")
		if r.Path == "/static/:name" {
			path = "/static/app.css"
		}
		callers := []struct {
			who, token, path string
			refused          bool
		}{
			{"anonymous", "", path, guard != anyone},
			{"an agent", k.agentToken, path, guard == admin},
			{"an admin", k.adminToken, path, false},
		}
		if guard == adminOrSelf {
			own := strings.Replace(r.Path, ":id", fmt.Sprint(k.agent.ID), 1)
			callers[1].path = strings.Replace(r.Path, ":id", fmt.Sprint(k.admin.ID), 1)
			callers[1].refused = true
			callers = append(callers, struct {
				who, token, path string
				refused          bool
			}{"the agent on their own", k.agentToken, own, false})
		}
		for _, c := range callers {
			refused, answer := call(r.Method, c.path, c.token)
			if refused != c.refused {
				want := "let through"
				if c.refused {
					want = "refused"
				}
				t.Errorf("%s (%s) by %s: %s, want %s", key, guard, c.who, answer, want)
			}
		}
	}
	var missing []string
	for key := range routeGuards {
		if !seen[key] {
			missing = append(missing, key)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("routeGuards names routes the server does not have: %v", missing)
	}
	if len(seen) < 70 {
		t.Fatalf("only %d routes checked", len(seen))
	}
}
