package server

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// cspProbe records every Content-Security-Policy violation of a page from its start.
const cspProbe = `(() => {
  window.__csp = [];
  document.addEventListener('securitypolicyviolation', (e) => { window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline')); });
})();`

func (tb *tab) watchCSP() {
	tb.t.Helper()
	tb.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspProbe})
		return err
	}))
}

// The agent app works under a policy without inline script, and that policy is in
// force: a script slipped into the page does not run. The demo page embeds the widget
// under a policy of its own.
func TestBrowserPagesWorkWithoutInlineScript(t *testing.T) {
	k := startKibo(t)
	for _, path := range []string{"/login", "/demo"} {
		resp, err := http.Get(k.base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		scripts := ""
		for _, d := range strings.Split(csp, ";") {
			if f := strings.Fields(d); len(f) > 0 && f[0] == "script-src" {
				scripts = d
			}
		}
		if scripts == "" || strings.Contains(scripts, "unsafe-inline") || resp.Header.Get("X-Content-Type-Options") != "nosniff" ||
			!strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "object-src 'none'") {
			t.Errorf("%s: Content-Security-Policy %q, X-Content-Type-Options %q", path, csp, resp.Header.Get("X-Content-Type-Options"))
		}
	}

	br := newBrowser(t)
	agent := br.tab("agent")
	agent.watchCSP()
	loginAgent(agent, k.base, "sam@example.com", "agent-password") // the app ran: the socket said hello
	if id := evalJS[float64](agent, `K.me && K.me.id`); int64(id) != k.agent.ID {
		t.Fatalf("the page's agent is %v, want %d", id, k.agent.ID)
	}
	if v := evalJS[[]string](agent, `window.__csp`); len(v) != 0 {
		t.Fatalf("the inbox broke its own policy: %v", v)
	}
	agent.exec(`(() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1'; document.body.appendChild(s); })()`)
	agent.waitJS("the policy to refuse an inline script", `window.__csp.length > 0`, 5*time.Second)
	if evalJS[bool](agent, `window.__ran === 1`) {
		t.Fatal("an inline script ran in the inbox")
	}

	// a password change from the profile, with the current password
	agent.navigate(k.base + "/settings#profile")
	agent.typeText(`document.getElementById('profile-current-password')`, "agent-password")
	agent.typeText(`document.getElementById('profile-password')`, "changed-in-browser")
	agent.typeText(`document.querySelectorAll('#profile-password')[0].closest('form').querySelectorAll('input[type=password]')[2]`, "changed-in-browser")
	agent.click(`Array.from(document.querySelectorAll('button')).find((b) => b.textContent === 'Change password')`)
	agent.waitJS("the password changed", `Array.from(document.querySelectorAll('#toasts *')).some((e) => e.textContent.includes('Password changed'))`, 10*time.Second,
		`document.getElementById('toasts').textContent`)
	k.signIn("sam@example.com", "changed-in-browser")
	// the page stays signed in: its session made the change
	agent.navigate(k.base + "/inbox")
	agent.waitJS("the inbox, still signed in", `location.pathname === '/inbox' && window.__kws && window.__kws.hellos >= 1`, 15*time.Second, `location.href`)

	visitor := br.tab("visitor")
	visitor.watchCSP()
	openWidget(visitor, k.base+"/demo")
	if v := evalJS[[]string](visitor, `window.__csp`); len(v) != 0 {
		t.Fatalf("the demo page broke its own policy: %v", v)
	}
}
