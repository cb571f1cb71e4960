package server

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// A visitor on a site that isn't in the inbox's allowed origins is told plainly that
// chat isn't available there (the socket's 403 is invisible to the page, and the
// widget used to say "offline" and take messages into nothing), and the admin sees
// the refused site on the inbox until the settings change.
func TestBrowserWidgetSaysChatIsNotAvailableOnAForeignSite(t *testing.T) {
	k := startKibo(t)
	path := fmt.Sprintf("/api/v1/inboxes/%d", k.inboxID)
	k.api("PATCH", path, k.adminToken, map[string]any{"settings": map[string]any{"allowed_origins": []string{"https://shop.example"}}}, nil, 200)
	br := newBrowser(t)
	visitor := br.tab("visitor")
	visitor.navigate(k.base + "/demo") // Kibo's own origin: not https://shop.example
	visitor.waitJS("the widget", wid("kibo-launcher"), 10*time.Second)
	visitor.click(wid("kibo-launcher"))
	visitor.waitJS("the widget saying the chat isn't available here",
		`Kibo.state().available === false && `+wid("kibo-status")+`.textContent === "Chat isn\u2019t available on this site." && `+
			wid("kibo-input")+`.disabled && /contact us another way/.test(`+wid("kibo-notice")+`.textContent)`,
		15*time.Second, `Kibo.state()`, wid("kibo-status")+`.textContent`)
	if evalJS[bool](visitor, `Kibo.send('hello?') !== null`) {
		t.Error("the widget took a message it can never send")
	}

	var in map[string]any
	deadline := time.Now().Add(5 * time.Second)
	for {
		k.api("GET", path, k.adminToken, nil, &in, 200)
		if in["state"] == "error" || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if msg, _ := in["last_error"].(string); in["state"] != "error" || !strings.Contains(msg, k.base) || !strings.Contains(msg, "Allowed origins") {
		t.Errorf("the inbox after a refused page: state %v, last error %q", in["state"], in["last_error"])
	}
	k.api("PATCH", path, k.adminToken, map[string]any{"settings": map[string]any{"allowed_origins": []string{"https://shop.example", k.base}}}, &in, 200)
	if in["state"] == "error" {
		t.Errorf("the refusal is still shown after the site was allowed: %v", in["last_error"])
	}
	openWidget(br.tab("visitor-after"), k.base+"/demo")
}
