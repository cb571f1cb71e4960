package server

// Browser tests: the real agent app and the real widget in Debian's headless
// Chromium, driven by chromedp. They prove what the chat promises its users: a visitor's
// message reaches the agent's screen live, the answer and both typing indicators
// reach the other side, the widget keeps messages through an outage and delivers
// each once, history survives a reload, customer text is never markup, the agent
// page catches up after its socket drops, and the keyboard shortcuts work.
//
// Screenshots go to $KIBO_SCREENSHOTS when set (else a temporary directory); the
// test log names every file.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

const chromiumPath = "/usr/bin/chromium"

// ---- the browser -------------------------------------------------------------------

// browserEnv is one headless Chromium for one test.
type browserEnv struct {
	t     *testing.T
	root  context.Context
	shots string // where screenshots go
}

func newBrowser(t *testing.T) *browserEnv {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("%s is missing: run scripts/test-deps.sh (it installs Debian's chromium)", chromiumPath)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 820),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	root, cancelRoot := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancelRoot(); cancelAlloc() })
	// The first run starts the browser and ties it to the context it gets: give it
	// the long-lived one, never one with a timeout.
	if err := chromedp.Do(root); err != nil {
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	shots := os.Getenv("KIBO_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	return &browserEnv{t: t, root: root, shots: shots}
}

// tab is a page in a browser context of its own: its own cookies and localStorage,
// like a separate browser profile.
type tab struct {
	t     *testing.T
	name  string
	ctx   context.Context
	shots string

	mu      sync.Mutex
	console []string
	thrown  []string
}

func (b *browserEnv) tab(name string) *tab {
	t := b.t
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.root, chromedp.WithNewBrowserContext())
	tb := &tab{t: t, name: name, ctx: ctx, shots: b.shots}
	t.Cleanup(tb.report) // runs after the tab is closed (cleanups run last first)
	t.Cleanup(cancel)
	t.Cleanup(func() { // runs first: a picture of every page of a failed test
		if t.Failed() {
			tb.screenshot("failed")
		}
	})
	// Observe the page's sockets (only counts; the app's own handlers are untouched),
	// so a test can wait until the agent page is subscribed before acting.
	instrument := chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: socketProbe})
		return err
	})
	if err := chromedp.Do(ctx, instrument); err != nil { // the first run opens the tab: no timeout here either
		t.Fatalf("%s: opening a tab: %v", name, err)
	}
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			line := fmt.Sprintf("[%s] %s: %s", m.Type, m.URL, m.Text)
			tb.mu.Lock()
			tb.console = append(tb.console, line)
			if m.Type == chromedp.ConsoleException {
				tb.thrown = append(tb.thrown, line)
			}
			tb.mu.Unlock()
		}
	}()
	return tb
}

const socketProbe = `(() => {
  const W = window.WebSocket;
  if (!W || W.__kiboProbe) return;
  const s = window.__kws = { opens: 0, hellos: 0, closes: 0 };
  class Probe extends W {
    constructor(...a) {
      super(...a);
      this.addEventListener('open', () => { s.opens++; });
      this.addEventListener('close', () => { s.closes++; });
      this.addEventListener('message', (e) => { if (typeof e.data === 'string' && e.data.indexOf('"type":"hello"') >= 0) s.hellos++; });
    }
  }
  Probe.__kiboProbe = true;
  window.WebSocket = Probe;
})();`

// report logs what the page wrote to its console and fails the test on an uncaught
// exception: an exception in the app is a bug even when the test's checks pass.
func (tb *tab) report() {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if len(tb.console) > 0 {
		tb.t.Logf("%s console:\n  %s", tb.name, strings.Join(tb.console, "\n  "))
	}
	if len(tb.thrown) > 0 {
		tb.t.Errorf("%s: uncaught exceptions in the page:\n  %s", tb.name, strings.Join(tb.thrown, "\n  "))
	}
}

func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.t.Fatalf("%s: %v", tb.name, err)
	}
}

func (tb *tab) navigate(url string) {
	tb.t.Helper()
	tb.do(chromedp.Navigate(url))
}

// evalJS evaluates an expression in the page and decodes its value.
func evalJS[T any](tb *tab, js string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		tb.t.Fatalf("%s: evaluating %s: %v", tb.name, js, err)
	}
	return v
}

func (tb *tab) exec(js string) {
	tb.t.Helper()
	evalJS[chromedp.Void](tb, "void ("+js+")")
}

// waitJS polls a condition in the page every 15 ms until it holds. It survives
// navigations (an evaluation that fails during one is tried again).
func (tb *tab) waitJS(what, cond string, timeout time.Duration, debug ...string) {
	tb.t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+cond+")"))
		cancel()
		if err == nil && ok {
			return
		}
		lastErr = err
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("%s: timed out after %v waiting for %s", tb.name, timeout, what)
			if lastErr != nil {
				msg += fmt.Sprintf(" (last error: %v)", lastErr)
			}
			for _, d := range debug {
				ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Second)
				v, err := chromedp.Run(ctx, chromedp.Evaluate[any](d))
				cancel()
				msg += fmt.Sprintf("\n  %s = %v (%v)", d, jsonText(v), err)
			}
			tb.t.Fatal(msg)
		}
		time.Sleep(15 * time.Millisecond)
	}
}

// holdJS checks that a condition stays true for d (a negative check: nothing
// arrives that should not).
func (tb *tab) holdJS(what, cond string, d time.Duration) {
	tb.t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if !evalJS[bool](tb, "!!("+cond+")") {
			tb.t.Fatalf("%s: %s stopped holding", tb.name, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// click sends a real mouse click to the middle of the element the expression gives
// (it may be inside a shadow root), once the element is there, visible and on top.
func (tb *tab) click(elem string) {
	tb.t.Helper()
	js := `(() => {
	  const e = ` + elem + `;
	  if (!e || !e.isConnected) return null;
	  e.scrollIntoView({block: 'nearest', inline: 'nearest'});
	  const r = e.getBoundingClientRect();
	  if (!r.width || !r.height) return null;
	  const x = r.left + r.width / 2, y = r.top + r.height / 2;
	  const root = e.getRootNode();
	  const hit = (root.elementFromPoint ? root : document).elementFromPoint(x, y);
	  if (!hit || !(hit === e || e.contains(hit))) return null;
	  return [x, y];
	})()`
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Second)
		xy, err := chromedp.Run(ctx, chromedp.Evaluate[*[2]float64](js))
		cancel()
		if err == nil && xy != nil {
			tb.do(chromedp.MouseClickXY(xy[0], xy[1]))
			return
		}
		if time.Now().After(deadline) {
			tb.t.Fatalf("%s: cannot click %s: not there, hidden or covered (%v)", tb.name, elem, err)
		}
		time.Sleep(15 * time.Millisecond)
	}
}

// typeText focuses the element and types text as key events, as a person would.
func (tb *tab) typeText(elem, text string) {
	tb.t.Helper()
	tb.waitJS("a field "+elem, `(() => { const e = `+elem+`; if (!e) return false; e.focus(); return e.getRootNode().activeElement === e; })()`, 10*time.Second)
	tb.do(chromedp.KeyEvent(text))
}

// key sends key presses to whatever has the focus.
func (tb *tab) key(keys string) {
	tb.t.Helper()
	tb.do(chromedp.KeyEvent(keys))
}

// settled is true when no finite animation runs (a dialog fading in, a toast), in
// the page and in the widget's shadow root.
const settled = `(() => {
  const all = document.getAnimations().concat(window.Kibo && Kibo.root && Kibo.root.getAnimations ? Kibo.root.getAnimations() : []);
  return all.every((a) => a.playState !== 'running' || !isFinite(a.effect.getComputedTiming().endTime));
})()`

func (tb *tab) screenshot(label string) string {
	// let transitions finish, so the picture shows what a person sees
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(tb.ctx, time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](settled))
		cancel()
		if err != nil || ok {
			break
		}
	}
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.t.Logf("%s: screenshot: %v", tb.name, err)
		return ""
	}
	dir := tb.shots
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.t.Logf("screenshot dir: %v", err)
		return ""
	}
	name := strings.NewReplacer("/", "_", " ", "_").Replace(tb.t.Name() + "-" + tb.name + "-" + label + ".png")
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.t.Logf("screenshot: %v", err)
		return ""
	}
	tb.t.Logf("screenshot of the %s page: %s", tb.name, path)
	return path
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// jsq quotes a Go string as a JavaScript string literal.
func jsq(s string) string { return jsonText(s) }

// ---- the agent app -----------------------------------------------------------------

// loginAgent signs in through the real form and waits for the inbox with its live
// socket subscribed.
func loginAgent(tb *tab, base, email, password string) {
	tb.t.Helper()
	tb.navigate(base + "/login")
	tb.typeText(`document.querySelector('input[name=email]')`, email)
	tb.typeText(`document.querySelector('input[name=password]')`, password)
	tb.click(`document.querySelector('form.login-card button[type=submit]')`)
	tb.waitJS("the inbox after signing in", `location.pathname === '/inbox' && document.getElementById('rows') && window.__kws && window.__kws.hellos >= 1`, 15*time.Second,
		`location.href`, `document.querySelector('.alert') && document.querySelector('.alert').textContent`)
}

// showView picks a view in the sidebar ("open" is "All open") and waits for its list.
func showView(tb *tab, view string) {
	tb.t.Helper()
	sel := `document.querySelector('#nav .nav-item[data-view="` + view + `"]')`
	for i := 0; ; i++ {
		tb.click(sel)
		ok := false
		for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(15 * time.Millisecond) {
			if evalJS[bool](tb, `!!(`+sel+` && `+sel+`.classList.contains('active') && !document.querySelector('#list.is-loading') && !document.querySelector('#rows .skel'))`) {
				ok = true
				break
			}
		}
		if ok {
			return
		}
		if i == 2 {
			tb.t.Fatalf("%s: the view %q does not show", tb.name, view)
		}
	}
}

func rowSel(convID int64) string {
	return fmt.Sprintf(`document.querySelector('#rows .row[data-id="%d"]')`, convID)
}

// threadHas is true when the open conversation shows a message with exactly text.
func threadHas(text string) string {
	return `Array.from(document.querySelectorAll('#thread .msg .msg-text')).some((e) => e.textContent === ` + jsq(text) + `)`
}

// watchAgent makes the page record the moment text first shows inside sel:
// performance.timeOrigin + performance.now(), on the machine's clock, like the
// visitor page's click time.
func watchAgent(tb *tab, key, sel, text string) {
	tb.t.Helper()
	tb.exec(`(() => {
	  window.__seen = window.__seen || {};
	  const key = ` + jsq(key) + `, text = ` + jsq(text) + `;
	  const check = () => {
	    const el = document.querySelector(` + jsq(sel) + `);
	    if (el && el.textContent.includes(text)) {
	      if (!window.__seen[key]) window.__seen[key] = performance.timeOrigin + performance.now();
	      mo.disconnect();
	    }
	  };
	  const mo = new MutationObserver(check);
	  mo.observe(document.documentElement, {childList: true, subtree: true, characterData: true});
	  check();
	})()`)
}

// ---- the widget --------------------------------------------------------------------

// wid gives the widget element with that id, inside its shadow root.
func wid(id string) string {
	return `(window.Kibo && window.Kibo.root && window.Kibo.root.getElementById(` + jsq(id) + `))`
}

const widgetOffline = "offline — messages will be sent when you're back"

func openWidget(tb *tab, url string) {
	tb.t.Helper()
	tb.navigate(url)
	tb.waitJS("the widget", wid("kibo-launcher"), 10*time.Second)
	tb.click(wid("kibo-launcher"))
	tb.waitJS("the open chat panel", `Kibo.state().open && !`+wid("kibo-panel")+`.hidden`, 5*time.Second)
	waitWidgetOnline(tb)
}

func waitWidgetOnline(tb *tab) {
	tb.t.Helper()
	tb.waitJS("the widget online", `Kibo.state().connected && `+wid("kibo-status")+`.textContent === 'online'`, 25*time.Second,
		`Kibo.state()`, wid("kibo-status")+`.textContent`)
}

// widgetSend types text into the widget and clicks send, recording the click time.
func widgetSend(tb *tab, text string) {
	tb.t.Helper()
	tb.typeText(wid("kibo-input"), text)
	tb.exec(wid("kibo-send") + `.addEventListener('click', () => { window.__clickAt = performance.timeOrigin + performance.now(); }, {capture: true, once: true})`)
	tb.click(wid("kibo-send"))
	tb.waitJS("the input to clear after sending", wid("kibo-input")+`.value === ''`, 5*time.Second)
}

// watchAck makes the visitor page record when text is acknowledged (the bubble gets
// its server id), on the same clock as the click.
func watchAck(tb *tab, text string) {
	tb.t.Helper()
	tb.exec(`(() => {
	  const text = ` + jsq(text) + `;
	  const check = () => {
	    const ok = Array.from(Kibo.root.querySelectorAll('#kibo-list .kibo-out[data-id] .kibo-bubble')).some((b) => b.textContent === text);
	    if (ok) { window.__ackAt = performance.timeOrigin + performance.now(); mo.disconnect(); }
	  };
	  window.__ackAt = 0;
	  const mo = new MutationObserver(check);
	  mo.observe(Kibo.root, {childList: true, subtree: true, attributes: true, attributeFilter: ['data-id']});
	})()`)
}

// widgetMsgs counts the widget's messages of a kind ("kibo-out", "kibo-in") with
// exactly text.
func widgetMsgs(kind, text string) string {
	return `Array.from(Kibo.root.querySelectorAll('#kibo-list .kibo-msg.` + kind + ` .kibo-bubble')).filter((b) => b.textContent === ` + jsq(text) + `).length`
}

func widgetDelivered(text string) string {
	return `Array.from(Kibo.root.querySelectorAll('#kibo-list .kibo-msg.kibo-out:not(.kibo-pending) .kibo-bubble')).some((b) => b.textContent === ` + jsq(text) + `)`
}

// ---- the server side ---------------------------------------------------------------

// countText counts the stored messages with exactly text in a conversation.
func (k *testKibo) countText(convID int64, text string) int {
	n := 0
	for _, m := range k.messages(convID) {
		if m["text"] == text {
			n++
		}
	}
	return n
}

func (k *testKibo) conversation(id int64) map[string]any {
	var c map[string]any
	k.api("GET", fmt.Sprintf("/api/v1/conversations/%d", id), k.adminToken, nil, &c, 200)
	return c
}

// ---- a TCP proxy that the test can cut -----------------------------------------------

// tcpProxy forwards a loopback port to the server. cut closes the port and every
// connection (the server is unreachable); restore opens the same port again.
// blockSockets refuses WebSocket handshakes while plain page loads go through.
type tcpProxy struct {
	t      *testing.T
	target string
	addr   string

	mu      sync.Mutex
	ln      net.Listener
	down    bool
	block   bool
	conns   map[net.Conn]bool // client side → it is a WebSocket
	wg      sync.WaitGroup
	refused int
}

func newProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{t: t, target: target, addr: ln.Addr().String(), conns: map[net.Conn]bool{}}
	p.serve(ln)
	t.Cleanup(func() { p.cut(); p.wg.Wait() })
	return p
}

func (p *tcpProxy) url() string { return "http://" + p.addr }

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln, p.down = ln, false
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.handle(c) }()
		}
	}()
}

func (p *tcpProxy) handle(c net.Conn) {
	defer c.Close()
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		return
	}
	p.conns[c] = false
	p.mu.Unlock()
	defer func() { p.mu.Lock(); delete(p.conns, c); p.mu.Unlock() }()

	// Read the request head to tell a WebSocket handshake from a page load.
	br := bufio.NewReader(c)
	var head bytes.Buffer
	for {
		line, err := br.ReadSlice('\n')
		head.Write(line)
		if err != nil {
			return
		}
		if len(bytes.TrimSpace(line)) == 0 || head.Len() > 64<<10 {
			break
		}
	}
	ws := bytes.Contains(bytes.ToLower(head.Bytes()), []byte("\nupgrade: websocket"))
	p.mu.Lock()
	if p.down || ws && p.block {
		if ws && p.block {
			p.refused++
		}
		p.mu.Unlock()
		return
	}
	p.conns[c] = ws
	p.mu.Unlock()

	up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		return
	}
	defer up.Close()
	if _, err := up.Write(head.Bytes()); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, br); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	<-done
}

// cut makes the server unreachable: the port refuses connections and every open one
// is closed.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
}

// restore opens the same port again.
func (p *tcpProxy) restore() {
	p.t.Helper()
	var err error
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		var ln net.Listener
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.serve(ln)
			return
		}
	}
	p.t.Fatalf("proxy: listening on %s again: %v", p.addr, err)
}

// blockSockets refuses WebSocket handshakes (and closes the open sockets) while on.
func (p *tcpProxy) blockSockets(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.block = on
	if on {
		for c, ws := range p.conns {
			if ws {
				c.Close()
			}
		}
	}
}

// ---- 1. the core loop ---------------------------------------------------------------

func TestBrowserChatEndToEnd(t *testing.T) {
	k := startKibo(t)
	br := newBrowser(t)
	agent := br.tab("agent")
	visitor := br.tab("visitor")

	loginAgent(agent, k.base, "sam@example.com", "agent-password")
	// Sam lands on "Mine"; a new chat is unassigned, so he looks at all open ones.
	showView(agent, "open")
	agent.waitJS("the empty list", `document.getElementById('list-empty')`, 5*time.Second)

	openWidget(visitor, k.base+"/demo")
	if src := evalJS[string](visitor, `document.querySelector('script[src$="/widget.js"]').src`); src != k.base+"/widget.js" {
		t.Fatalf("the demo page loads the widget from %q", src)
	}

	// The visitor writes; the agent's list shows the new conversation live.
	first := "Hi! My server in Frankfurt is not booting, can you help?"
	watchAgent(agent, "row", "#rows", first)
	watchAck(visitor, first)
	widgetSend(visitor, first)
	visitor.waitJS("the first message acknowledged", widgetDelivered(first)+` && Kibo.state().pending === 0`, 5*time.Second)
	agent.waitJS("the new conversation in the list", `window.__seen && window.__seen.row`, 5*time.Second)
	clickAt := evalJS[float64](visitor, `window.__clickAt`)
	rowAt := evalJS[float64](agent, `window.__seen.row`)
	convID := int64(evalJS[float64](visitor, `Kibo.state().conversationId`))
	t.Logf("latency, visitor's send click → new conversation row on the agent's screen: %.1f ms (ack in the widget after %.1f ms)",
		rowAt-clickAt, evalJS[float64](visitor, `window.__ackAt`)-clickAt)
	if !evalJS[bool](agent, "!!"+rowSel(convID)) {
		t.Fatalf("the agent's list has no row for conversation %d", convID)
	}

	// Opening it shows the message.
	agent.click(rowSel(convID))
	agent.waitJS("the message in the open conversation", threadHas(first), 5*time.Second)
	if st := evalJS[string](agent, `document.getElementById('conv-status').textContent.trim()`); st != "Open" {
		t.Errorf("status shown %q, want Open", st)
	}

	// The visitor types: the agent sees it.
	second := "It says kernel panic after the last update."
	visitor.typeText(wid("kibo-input"), second)
	agent.waitJS("the visitor-typing indicator", `!document.getElementById('typing').hidden && /is typing/.test(document.getElementById('typing').textContent)`, 5*time.Second)
	t.Logf("agent sees: %q", evalJS[string](agent, `document.getElementById('typing').textContent`))

	// The second message goes straight into the open thread.
	watchAgent(agent, "thread", "#thread", second)
	watchAck(visitor, second)
	visitor.exec(wid("kibo-send") + `.addEventListener('click', () => { window.__clickAt = performance.timeOrigin + performance.now(); }, {capture: true, once: true})`)
	visitor.click(wid("kibo-send"))
	agent.waitJS("the second message in the thread", `window.__seen.thread`, 5*time.Second)
	visitor.waitJS("the second message acknowledged", `window.__ackAt > 0`, 5*time.Second)
	clickAt = evalJS[float64](visitor, `window.__clickAt`)
	t.Logf("latency, visitor's send click → text in the agent's open conversation: %.1f ms (ack in the widget after %.1f ms)",
		evalJS[float64](agent, `window.__seen.thread`)-clickAt, evalJS[float64](visitor, `window.__ackAt`)-clickAt)
	agent.waitJS("the typing indicator to go away with the message", `document.getElementById('typing').hidden`, 5*time.Second)

	// The agent types: the widget says so.
	reply := "Sorry about that! I'm rolling the kernel back for you now."
	agent.typeText(`document.getElementById('reply-text')`, reply)
	visitor.waitJS(`"Sam is typing…" in the widget`, `!`+wid("kibo-typing")+`.hidden && `+wid("kibo-typing-text")+`.textContent === 'Sam is typing…'`, 5*time.Second,
		wid("kibo-typing-text")+`.textContent`)

	// The agent sends: the widget shows the answer live.
	agent.exec(`document.getElementById('reply-send').addEventListener('click', () => { window.__clickAt = performance.timeOrigin + performance.now(); }, {capture: true, once: true})`)
	agent.click(`document.getElementById('reply-send')`)
	visitor.waitJS("the agent's reply in the widget", widgetMsgs("kibo-in", reply)+` === 1`, 5*time.Second)
	visitor.exec(`window.__replyAt = performance.timeOrigin + performance.now()`)
	t.Logf("latency, agent's send click → reply in the widget (polled): %.1f ms",
		evalJS[float64](visitor, `window.__replyAt`)-evalJS[float64](agent, `window.__clickAt`))
	if name := evalJS[string](visitor, `Array.from(Kibo.root.querySelectorAll('#kibo-list .kibo-in .kibo-name')).map((e) => e.textContent).join(',')`); name != "Sam" {
		t.Errorf("the reply is signed %q, want Sam", name)
	}
	visitor.waitJS(`"Sam is typing…" to go away with the reply`, wid("kibo-typing")+`.hidden`, 5*time.Second)
	agent.waitJS("the reply in the agent's thread", threadHas(reply)+` && document.getElementById('reply-text').value === ''`, 5*time.Second)
	// The open widget says the visitor read it: the agent sees "Seen" on it, live.
	agent.waitJS(`"Seen" on the reply`, `(() => { const s = document.querySelectorAll('#thread .msg-seen');
		return s.length === 1 && s[0].closest('.msg').textContent.includes(`+jsq(reply)+`); })()`, 5*time.Second)

	// Stored once each, in order.
	var texts []string
	for _, m := range k.messages(convID) {
		texts = append(texts, m["text"].(string))
	}
	if strings.Join(texts, "|") != strings.Join([]string{first, second, reply}, "|") {
		t.Errorf("stored messages %q", texts)
	}

	// Leave the visitor's draft box empty and the pages settled for the pictures.
	visitor.waitJS("no pending messages", `Kibo.state().pending === 0 && !Kibo.root.querySelector('.kibo-pending')`, 5*time.Second)
	agent.screenshot("inbox")
	visitor.screenshot("widget")
}

// ---- 2. offline: keep, then deliver once -------------------------------------------

func TestBrowserWidgetOfflineDeliversOnce(t *testing.T) {
	k := startKibo(t)
	proxy := newProxy(t, strings.TrimPrefix(k.base, "http://"))
	br := newBrowser(t)
	visitor := br.tab("visitor")

	// The page, and so widget.js and its socket, come through the proxy.
	openWidget(visitor, proxy.url()+"/demo")
	if src := evalJS[string](visitor, `document.querySelector('script[src$="/widget.js"]').src`); src != proxy.url()+"/widget.js" {
		t.Fatalf("the demo page loads the widget from %q, want it through the proxy", src)
	}
	widgetSend(visitor, "Hello, anyone there?")
	visitor.waitJS("the first message acknowledged", widgetDelivered("Hello, anyone there?"), 5*time.Second)
	convID := int64(evalJS[float64](visitor, `Kibo.state().conversationId`))
	outboxKey := jsq("kibo:outbox:" + k.publicKey)

	// The server becomes unreachable.
	proxy.cut()
	visitor.waitJS("the widget to show it is offline", `!Kibo.state().connected && `+wid("kibo-status")+`.textContent === `+jsq(widgetOffline), 5*time.Second,
		wid("kibo-status")+`.textContent`)

	a, b := "First message while offline", "Second message while offline"
	widgetSend(visitor, a)
	visitor.typeText(wid("kibo-input"), b)
	visitor.key("\r") // Enter sends too
	visitor.waitJS("both kept as pending", `Kibo.state().pending === 2 && Kibo.root.querySelectorAll('#kibo-list .kibo-msg.kibo-pending').length === 2`, 5*time.Second,
		`Kibo.state()`)
	stored := evalJS[string](visitor, `localStorage.getItem(`+outboxKey+`) || ''`)
	if !strings.Contains(stored, a) || !strings.Contains(stored, b) {
		t.Fatalf("localStorage outbox %q lacks the pending messages", stored)
	}
	visitor.holdJS("pending while offline", `!Kibo.state().connected && Kibo.state().pending === 2`, 700*time.Millisecond)
	if k.countText(convID, a)+k.countText(convID, b) != 0 {
		t.Fatal("a message reached the server through a cut connection")
	}
	visitor.screenshot("offline")

	// Back online: both go out, once each.
	restored := time.Now()
	proxy.restore()
	visitor.waitJS("the pending messages delivered", `Kibo.state().connected && Kibo.state().pending === 0 && !Kibo.root.querySelector('.kibo-pending')`, 25*time.Second,
		`Kibo.state()`)
	t.Logf("the widget reconnected and delivered %v after the server came back", time.Since(restored).Round(time.Millisecond))
	if s := evalJS[string](visitor, wid("kibo-status")+`.textContent`); s != "online" {
		t.Errorf("status %q after reconnecting", s)
	}
	for _, text := range []string{"Hello, anyone there?", a, b} {
		if n := k.countText(convID, text); n != 1 {
			t.Errorf("%q stored %d times, want once", text, n)
		}
		if n := evalJS[int](visitor, widgetMsgs("kibo-out", text)); n != 1 {
			t.Errorf("%q shown %d times in the widget, want once", text, n)
		}
	}
	if s := evalJS[string](visitor, `localStorage.getItem(`+outboxKey+`) || '[]'`); s != "[]" {
		t.Errorf("localStorage outbox after delivery: %s", s)
	}

	// A reload while a message is pending: the page loads, the socket cannot connect.
	proxy.blockSockets(true)
	visitor.waitJS("offline again", `!Kibo.state().connected && `+wid("kibo-status")+`.textContent === `+jsq(widgetOffline), 5*time.Second)
	c := "Sent just before a reload"
	widgetSend(visitor, c)
	visitor.waitJS("pending", `Kibo.state().pending === 1`, 5*time.Second)
	visitor.do(chromedp.Reload())
	visitor.waitJS("the widget after the reload", wid("kibo-list"), 10*time.Second)
	visitor.waitJS("the pending message shown after the reload", `Kibo.state().pending === 1 && Array.from(Kibo.root.querySelectorAll('.kibo-pending .kibo-bubble')).some((e) => e.textContent === `+jsq(c)+`)`, 5*time.Second,
		`Kibo.state()`)
	visitor.holdJS("still pending with sockets blocked", `!Kibo.state().connected && Kibo.state().pending === 1`, 500*time.Millisecond)
	if n := k.countText(convID, c); n != 0 {
		t.Fatalf("%q reached the server while sockets were blocked", c)
	}
	proxy.blockSockets(false)
	restored = time.Now()
	visitor.waitJS("the message pending across the reload delivered", `Kibo.state().connected && Kibo.state().pending === 0 && `+widgetDelivered(c), 25*time.Second,
		`Kibo.state()`)
	t.Logf("after the reload, delivered %v after sockets were allowed again", time.Since(restored).Round(time.Millisecond))
	for _, text := range []string{"Hello, anyone there?", a, b, c} {
		if n := k.countText(convID, text); n != 1 {
			t.Errorf("%q stored %d times, want once", text, n)
		}
	}

	// One more reload: the history shows each message once.
	visitor.do(chromedp.Reload())
	visitor.waitJS("the widget after the reload", wid("kibo-list"), 10*time.Second)
	waitWidgetOnline(visitor)
	for _, text := range []string{"Hello, anyone there?", a, b, c} {
		if n := evalJS[int](visitor, widgetMsgs("kibo-out", text)); n != 1 {
			t.Errorf("after a reload %q is shown %d times, want once", text, n)
		}
	}
	if n := len(k.messages(convID)); n != 4 {
		t.Errorf("%d messages stored, want 4", n)
	}
}

// ---- 3. history ------------------------------------------------------------------------

func TestBrowserHistoryAfterReload(t *testing.T) {
	k := startKibo(t)
	br := newBrowser(t)
	visitor := br.tab("visitor")
	openWidget(visitor, k.base+"/demo")
	q := "Do you offer a discount for non-profits?"
	widgetSend(visitor, q)
	visitor.waitJS("acknowledged", widgetDelivered(q), 5*time.Second)
	convID := int64(evalJS[float64](visitor, `Kibo.state().conversationId`))
	a := "Yes: 50% off every plan. Reply with your registration number."
	k.api("POST", fmt.Sprintf("/api/v1/conversations/%d/messages", convID), k.agentToken, map[string]any{"text": a}, nil, 201)
	visitor.waitJS("the reply live", widgetMsgs("kibo-in", a)+` === 1`, 5*time.Second)

	// Close the tab's page and come back.
	visitor.navigate("about:blank")
	openWidget(visitor, k.base+"/demo")
	visitor.waitJS("the history after coming back", widgetMsgs("kibo-out", q)+` === 1 && `+widgetMsgs("kibo-in", a)+` === 1`, 5*time.Second,
		`Kibo.root.getElementById('kibo-list').textContent`)
	order := evalJS[[]string](visitor, `Array.from(Kibo.root.querySelectorAll('#kibo-list .kibo-msg .kibo-bubble')).map((b) => b.textContent)`)
	if strings.Join(order, "|") != q+"|"+a {
		t.Errorf("history shows %q, want the question then the answer", order)
	}
	if id := int64(evalJS[float64](visitor, `Kibo.state().conversationId`)); id != convID {
		t.Errorf("after the reload the widget is in conversation %d, want %d", id, convID)
	}
	// And a plain reload.
	visitor.do(chromedp.Reload())
	visitor.waitJS("the widget after the reload", wid("kibo-list"), 10*time.Second)
	waitWidgetOnline(visitor)
	visitor.waitJS("the history after a reload", widgetMsgs("kibo-out", q)+` === 1 && `+widgetMsgs("kibo-in", a)+` === 1`, 5*time.Second)
}

// ---- 4. customer text is text -----------------------------------------------------------

func TestBrowserScriptInMessagesIsText(t *testing.T) {
	const payload = `<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>`
	k := startKibo(t)
	br := newBrowser(t)
	visitor := br.tab("visitor")
	agent := br.tab("agent")

	openWidget(visitor, k.base+"/demo")
	widgetSend(visitor, payload)
	visitor.waitJS("acknowledged", widgetDelivered(payload), 5*time.Second)
	convID := int64(evalJS[float64](visitor, `Kibo.state().conversationId`))
	contactID := int64(num(k.conversation(convID)["contact"].(map[string]any)["id"]))
	k.api("PATCH", fmt.Sprintf("/api/v1/contacts/%d", contactID), k.adminToken, map[string]any{"name": payload}, nil, 200)
	k.api("POST", fmt.Sprintf("/api/v1/conversations/%d/messages", convID), k.agentToken, map[string]any{"text": "Echo: " + payload}, nil, 201)

	noScript := `window.__xss === undefined && !document.querySelector('img[src="x"]') && !Array.from(document.querySelectorAll('script')).some((s) => s.textContent.includes('__xss'))`

	// The widget shows both as text.
	visitor.waitJS("the agent's reply as text", widgetMsgs("kibo-in", "Echo: "+payload)+` === 1`, 5*time.Second)
	visitor.holdJS("no markup from messages in the widget", noScript+` && !Kibo.root.querySelector('img, script')`, 300*time.Millisecond)
	if n := evalJS[int](visitor, widgetMsgs("kibo-out", payload)); n != 1 {
		t.Errorf("the visitor's own message shown %d times as text", n)
	}

	// The inbox: list row, header, thread.
	loginAgent(agent, k.base, "sam@example.com", "agent-password")
	showView(agent, "open")
	agent.waitJS("the row", rowSel(convID), 5*time.Second)
	if name := evalJS[string](agent, rowSel(convID)+`.querySelector('.r-name').textContent`); name != payload {
		t.Errorf("the row shows the name %q, want the literal text", name)
	}
	agent.click(rowSel(convID))
	agent.waitJS("the message as text", threadHas(payload)+` && `+threadHas("Echo: "+payload), 5*time.Second)
	agent.holdJS("no markup from messages in the inbox", noScript, 300*time.Millisecond)
	if name := evalJS[string](agent, `document.getElementById('conv-contact').textContent`); name != payload {
		t.Errorf("the header shows the contact %q", name)
	}
	agent.screenshot("inbox")

	// The contact page.
	agent.click(`document.getElementById('conv-contact')`)
	agent.waitJS("the contact page", `location.pathname === '/contacts/`+fmt.Sprint(contactID)+`' && document.getElementById('contact-name')`, 10*time.Second)
	if name := evalJS[string](agent, `document.getElementById('contact-name').textContent`); name != payload {
		t.Errorf("the contact page shows the name %q", name)
	}
	agent.holdJS("no markup from the contact's name", noScript, 300*time.Millisecond)
	agent.screenshot("contact")
}

// ---- 5. the agent page catches up -----------------------------------------------------

func TestBrowserAgentCatchesUpAfterDisconnect(t *testing.T) {
	k := startKibo(t)
	proxy := newProxy(t, strings.TrimPrefix(k.base, "http://"))
	br := newBrowser(t)
	agent := br.tab("agent")

	v := k.visitor()
	v.hello("", nil)
	convID := num(v.say("m-0", "Is the API down?")["conversation_id"])

	loginAgent(agent, proxy.url(), "sam@example.com", "agent-password")
	showView(agent, "open")
	agent.click(rowSel(convID))
	agent.waitJS("the first message", threadHas("Is the API down?"), 5*time.Second)
	agent.exec(`window.__marker = 1`)
	origin := evalJS[float64](agent, `performance.timeOrigin`)

	// The network drops (a laptop closed, Wi-Fi gone).
	proxy.cut()
	agent.waitJS("the reconnecting notice", `!document.getElementById('conn-pill').hidden`, 5*time.Second)
	texts := []string{"Hello?", "I get 502 on every call", "Our checkout is down because of it"}
	for i, text := range texts {
		v.say(fmt.Sprintf("m-%d", i+1), text)
	}
	agent.holdJS("nothing arriving while cut", `!(`+threadHas(texts[0])+`)`, 300*time.Millisecond)

	restored := time.Now()
	proxy.restore()
	all := `[` + strings.Join([]string{threadHas(texts[0]), threadHas(texts[1]), threadHas(texts[2])}, ",") + `].every(Boolean)`
	agent.waitJS("every missed message, without a reload", all, 25*time.Second,
		`window.__kws`, `document.getElementById('thread').textContent`)
	t.Logf("the agent page caught up %v after the network came back", time.Since(restored).Round(time.Millisecond))
	if !evalJS[bool](agent, `window.__marker === 1`) || evalJS[float64](agent, `performance.timeOrigin`) != origin {
		t.Fatal("the page reloaded to catch up")
	}
	if n := evalJS[int](agent, `window.__kws.hellos`); n < 2 {
		t.Errorf("the socket said hello %d times, want a reconnect", n)
	}
	order := evalJS[[]string](agent, `Array.from(document.querySelectorAll('#thread .msg .msg-text')).map((e) => e.textContent)`)
	want := append([]string{"Is the API down?"}, texts...)
	if strings.Join(order, "|") != strings.Join(want, "|") {
		t.Errorf("thread shows %q, want %q (each once, in order)", order, want)
	}
	agent.waitJS("the reconnecting notice gone", `document.getElementById('conn-pill').hidden`, 5*time.Second)
	if p := evalJS[string](agent, rowSel(convID)+`.textContent`); !strings.Contains(p, texts[2]) {
		t.Errorf("the row does not preview the latest message: %q", p)
	}
}

// ---- 6. keyboard -----------------------------------------------------------------------

func TestBrowserKeyboardShortcuts(t *testing.T) {
	k := startKibo(t)
	br := newBrowser(t)
	agent := br.tab("agent")

	var convs []int64
	for i, text := range []string{"First customer", "Second customer"} {
		v := k.visitor()
		v.hello("", nil)
		convs = append(convs, num(v.say(fmt.Sprintf("k-%d", i), text)["conversation_id"]))
	}
	loginAgent(agent, k.base, "sam@example.com", "agent-password")
	showView(agent, "open")
	agent.waitJS("two rows", `document.querySelectorAll('#rows .row[data-id]').length === 2`, 5*time.Second)
	order := evalJS[[]string](agent, `Array.from(document.querySelectorAll('#rows .row[data-id]')).map((r) => r.dataset.id)`)
	cursor := `(document.querySelector('#rows .row.cursor') || {dataset: {}}).dataset.id`

	agent.key("j")
	agent.waitJS("j selects the first", cursor+` === `+jsq(order[0]), 2*time.Second, cursor)
	agent.key("j")
	agent.waitJS("j moves down", cursor+` === `+jsq(order[1]), 2*time.Second, cursor)
	agent.key("k")
	agent.waitJS("k moves up", cursor+` === `+jsq(order[0]), 2*time.Second, cursor)
	agent.key("o")
	agent.waitJS("o opens it", `location.hash === '#c/`+order[0]+`' && document.querySelector('#thread .msg')`, 5*time.Second)

	agent.key("e")
	var id int64
	fmt.Sscan(order[0], &id)
	deadline := time.Now().Add(5 * time.Second)
	for k.conversation(id)["status"] != "resolved" {
		if time.Now().After(deadline) {
			t.Fatalf("e did not resolve conversation %d: %v", id, k.conversation(id)["status"])
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, other := range convs {
		if st := k.conversation(other)["status"]; other != id && st != "open" {
			t.Errorf("e changed the other conversation %d too: %v", other, st)
		}
	}
	agent.waitJS("the status shown as resolved", `document.getElementById('conv-status').textContent.trim() === 'Resolved'`, 5*time.Second)
	agent.waitJS("the resolved one gone from the list", `document.querySelectorAll('#rows .row[data-id]').length === 1`, 5*time.Second)
	agent.waitJS("the open count down to 1", `document.querySelector('#nav [data-view="open"] .nav-count').textContent === '1'`, 5*time.Second,
		`document.getElementById('nav').textContent`)

	agent.key("?")
	agent.waitJS("the shortcut help", `Array.from(document.querySelectorAll('.dialog h2')).some((h) => h.textContent === 'Keyboard shortcuts')`, 5*time.Second)
	if txt := evalJS[string](agent, `document.querySelector('.dialog').textContent`); !strings.Contains(txt, "Next conversation") || !strings.Contains(txt, "Resolve") {
		t.Errorf("the help lacks the list's shortcuts: %q", txt)
	}
	agent.screenshot("shortcuts")
	agent.key("\x1b") // Escape closes it
	agent.waitJS("the help closed", `!document.querySelector('.dialog')`, 2*time.Second)
}

// ---- 7. the first connect ------------------------------------------------------------

// A message that arrives after the inbox page loaded its list but before its live
// socket first connected (a flaky network while the page loads) must still show up.
func TestBrowserAgentSeesMessagesFromBeforeItsFirstConnect(t *testing.T) {
	k := startKibo(t)
	proxy := newProxy(t, strings.TrimPrefix(k.base, "http://"))
	br := newBrowser(t)
	agent := br.tab("agent")

	proxy.blockSockets(true) // pages load, sockets fail
	agent.navigate(proxy.url() + "/login")
	agent.typeText(`document.querySelector('input[name=email]')`, "sam@example.com")
	agent.typeText(`document.querySelector('input[name=password]')`, "agent-password")
	agent.click(`document.querySelector('form.login-card button[type=submit]')`)
	agent.waitJS("the inbox", `location.pathname === '/inbox' && document.getElementById('rows')`, 10*time.Second)
	showView(agent, "open")
	agent.waitJS("the empty list", `document.getElementById('list-empty')`, 5*time.Second)

	v := k.visitor()
	v.hello("", nil)
	convID := num(v.say("r-1", "Hello while your page was still connecting")["conversation_id"])
	proxy.blockSockets(false)
	agent.waitJS("the live socket", `window.__kws.hellos >= 1`, 25*time.Second)
	agent.waitJS("the conversation that arrived before the socket", "!!"+rowSel(convID), 5*time.Second,
		`window.__kws`, `document.getElementById('rows').textContent`)
}

// ---- counts pushed, not asked for --------------------------------------------------

// The inbox page keeps its counts (the views' badges, the inbox's, the unread count in
// the tab title) from what the server pushes: new conversations change them without
// the page asking for /counts after each event.
func TestBrowserCountsArePushed(t *testing.T) {
	k := startKibo(t)
	br := newBrowser(t)
	agent := br.tab("agent")
	loginAgent(agent, k.base, "sam@example.com", "agent-password")
	showView(agent, "open")
	agent.waitJS("the empty list", `document.getElementById('list-empty')`, 5*time.Second)
	agent.exec(`(() => { window.__countsAsked = 0; const f = window.fetch; window.fetch = function (u) { if (String(u).includes('/api/v1/counts')) window.__countsAsked++; return f.apply(this, arguments); }; })()`)
	for i := range 3 {
		v := k.visitor()
		v.hello("", nil)
		v.say(fmt.Sprintf("p-%d", i), fmt.Sprintf("question number %d", i))
	}
	agent.waitJS("three unread in the tab title", `document.title.startsWith('(3) ')`, 5*time.Second, `document.title`)
	agent.waitJS("three open in the inbox's badge", `document.querySelector('#nav .nav-item[data-view="inbox:`+fmt.Sprint(k.inboxID)+`"] .nav-count').textContent === '3'`, 5*time.Second)
	if n := evalJS[float64](agent, `window.__countsAsked`); n != 0 {
		t.Fatalf("the page asked for /counts %v times after events: the counts should come pushed", n)
	}
}
