package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"kibo/connectors"
	"kibo/connectors/email"
	"kibo/connectors/netguard"
	"kibo/server/alerts"
	"kibo/store"
)

// countingServer is a loopback HTTP server that counts the requests reaching it.
func countingServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"1","name":"Page"}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// Without AllowPrivateHosts, the hosts an admin types may not be loopback, private or
// link-local: refused with 422 when saved, and refused again on every connection (an
// inbox stored before, or a name that resolves elsewhere later, gets no further).
func TestPrivateHostsAreRefusedWithoutTheSetting(t *testing.T) {
	k := startKiboTuned(t, nil, func(c *Config) { c.AllowPrivateHosts = false })
	mail := func(imapHost, smtpHost string) map[string]any {
		return map[string]any{"kind": "email", "name": "Mail", "settings": map[string]any{
			"address": "support@example.com",
			"imap":    map[string]any{"host": imapHost, "port": 993, "tls": "tls", "username": "u", "password": "p"},
			"smtp":    map[string]any{"host": smtpHost, "port": 587, "tls": "starttls", "username": "u", "password": "p"},
		}}
	}
	messenger := func(base string) map[string]any {
		return map[string]any{"kind": "messenger", "name": "FB", "settings": map[string]any{
			"page_id": "1", "page_access_token": "page-token", "app_secret": "s", "verify_token": "v", "graph_base_url": base}}
	}
	x := func(base string) map[string]any {
		return map[string]any{"kind": "x", "name": "X", "settings": map[string]any{
			"user_id": "42", "consumer_key": "k", "consumer_secret": "s", "access_token": "a", "access_secret": "b", "api_base_url": base, "poll_interval": "1h"}}
	}
	for _, body := range []map[string]any{
		mail("127.0.0.1", "smtp.kibo-test.invalid"), mail("imap.kibo-test.invalid", "localhost"), mail("10.0.0.5", "smtp.kibo-test.invalid"),
		mail("imap.kibo-test.invalid", "169.254.169.254"), mail("[::1]", "smtp.kibo-test.invalid"),
		messenger("http://127.0.0.1:9"), messenger("http://169.254.169.254/latest/meta-data"), messenger("ftp://graph.kibo-test.invalid"),
		x("http://[::1]:9"), x("https://localhost"), x("http://192.168.1.1"),
	} {
		var e map[string]map[string]string
		k.api("POST", "/api/v1/inboxes", k.adminToken, body, &e, 422)
		if body["kind"] != "messenger" || !strings.HasPrefix(body["settings"].(map[string]any)["graph_base_url"].(string), "ftp") {
			if !strings.Contains(e["error"]["message"], "KIBO_ALLOW_PRIVATE_HOSTS") {
				t.Errorf("refused with %q: it should say which setting allows it", e["error"]["message"])
			}
		}
	}
	// public names, and names that do not resolve, are taken
	var created map[string]any
	k.api("POST", "/api/v1/inboxes", k.adminToken, x("https://api.kibo-test.invalid"), &created, 201)
	k.api("PATCH", fmt.Sprintf("/api/v1/inboxes/%v", created["id"]), k.adminToken, map[string]any{"settings": map[string]any{"api_base_url": "http://127.0.0.1:9"}}, nil, 422)
	k.api("PATCH", "/api/v1/alerts", k.adminToken, map[string]any{"webhook_url": "http://169.254.169.254/hook"}, nil, 422)
	k.api("PATCH", "/api/v1/alerts", k.adminToken, map[string]any{"webhook_url": "http://localhost:8080/hook"}, nil, 422)

	// at connect time: a Messenger inbox stored pointing at a loopback server
	ctx := context.Background()
	graph, graphHits := countingServer(t)
	in, err := k.st.CreateInbox(ctx, "messenger", "Old FB", "", map[string]any{
		"page_id": "1", "page_access_token": "page-token", "app_secret": "s", "verify_token": "v", "graph_base_url": graph.URL})
	if err != nil {
		t.Fatal(err)
	}
	var e map[string]map[string]string
	k.api("POST", fmt.Sprintf("/api/v1/inboxes/%d/test", in.ID), k.adminToken, nil, &e, 422)
	if !strings.Contains(e["error"]["message"], "KIBO_ALLOW_PRIVATE_HOSTS") {
		t.Errorf("the connection test said %q", e["error"]["message"])
	}
	// and the alerts webhook, set before
	hook, hookHits := countingServer(t)
	if err := k.st.SetAlertWebhookURL(ctx, hook.URL, k.admin.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := k.st.RaiseTeamAlert(ctx, store.TeamAlert{DedupeKey: "test:1", Kind: "volume_spike", Text: "spike", Webhook: true}, nil, nil); err != nil {
		t.Fatal(err)
	}
	k.srv.alerts.SendWebhooks(ctx)
	if n, m := graphHits.Load(), hookHits.Load(); n != 0 || m != 0 {
		t.Errorf("requests reached loopback servers: Graph API %d, alerts webhook %d", n, m)
	}
}

// The same settings work when the installation allows private hosts (the harness
// does, for its loopback servers).
func TestPrivateHostsAllowedByTheSetting(t *testing.T) {
	k := startKibo(t)
	graph, hits := countingServer(t)
	var in map[string]any
	k.api("POST", "/api/v1/inboxes", k.adminToken, map[string]any{"kind": "messenger", "name": "FB", "settings": map[string]any{
		"page_id": "1", "page_access_token": "page-token", "app_secret": "s", "verify_token": "v", "graph_base_url": graph.URL}}, &in, 201)
	k.api("POST", fmt.Sprintf("/api/v1/inboxes/%v/test", in["id"]), k.adminToken, nil, nil, 200)
	if hits.Load() == 0 {
		t.Error("the connection test never reached the Graph API")
	}
	k.api("PATCH", "/api/v1/alerts", k.adminToken, map[string]any{"webhook_url": "http://127.0.0.1:9/hook"}, nil, 200)
}

// A channel's error names hosts, addresses and resolver output: admins read it, agents
// get a sentence.
func TestChannelErrorsInDetailAreForAdmins(t *testing.T) {
	k := startKibo(t)
	ctx := context.Background()
	in, err := k.st.CreateInbox(ctx, "x", "X", "", map[string]any{"user_id": "42"})
	if err != nil {
		t.Fatal(err)
	}
	const detail = "cannot connect to IMAP server 10.1.2.3:993: dial tcp 10.1.2.3:993: lookup imap.corp.internal on 10.0.0.2:53: no such host"
	if err := k.st.SetInboxState(ctx, in.ID, "error", detail); err != nil {
		t.Fatal(err)
	}
	if _, err := k.st.RaiseTeamAlert(ctx, store.TeamAlert{DedupeKey: "channel:x", Kind: "channel_down",
		Text: fmt.Sprintf("The x channel %q"+alerts.ChannelDownWords+"%s", "X", detail)}, nil, nil); err != nil {
		t.Fatal(err)
	}
	read := func(token string) (lastError, alert string) {
		var list struct {
			Inboxes []map[string]any `json:"inboxes"`
		}
		k.api("GET", "/api/v1/inboxes", token, nil, &list, 200)
		for _, v := range list.Inboxes {
			if num(v["id"]) == in.ID {
				lastError, _ = v["last_error"].(string)
			}
		}
		var one map[string]any
		k.api("GET", fmt.Sprintf("/api/v1/inboxes/%d", in.ID), token, nil, &one, 200)
		if one["last_error"] != lastError {
			t.Errorf("the inbox and the list disagree: %q, %q", one["last_error"], lastError)
		}
		var alerts struct {
			Alerts []map[string]any `json:"alerts"`
		}
		k.api("GET", "/api/v1/alerts", token, nil, &alerts, 200)
		for _, a := range alerts.Alerts {
			if a["kind"] == "channel_down" {
				alert, _ = a["text"].(string)
			}
		}
		return lastError, alert
	}
	lastError, alert := read(k.adminToken)
	if lastError != detail || !strings.Contains(alert, "10.1.2.3") {
		t.Errorf("admins see %q and %q", lastError, alert)
	}
	lastError, alert = read(k.agentToken)
	if lastError == "" || strings.Contains(lastError, "10.") || strings.Contains(lastError, "corp.internal") {
		t.Errorf("an agent sees the inbox error %q", lastError)
	}
	if alert != `The x channel "X" has stopped working.` {
		t.Errorf("an agent sees the alert %q", alert)
	}
}

// A send to be retried shows agents why in plain words, without the hosts and
// addresses of a connection error.
func TestRetryTextHidesConnectionDetail(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 5), Port: 25}, Err: errors.New("connection refused")}
	for _, err := range []error{
		&email.ConnError{Msg: "cannot connect to SMTP server 10.0.0.5:25", Err: dial},
		fmt.Errorf("messenger: can't reach Facebook: %w", &url.Error{Op: "Post", URL: "http://10.0.0.5/v19.0/me/messages", Err: dial}),
		&netguard.BlockedError{Host: "graph.corp.internal", Addr: netip.MustParseAddr("10.0.0.5")},
		&net.DNSError{Err: "no such host", Name: "smtp.corp.internal", Server: "10.0.0.2:53"},
	} {
		if got := retryText(err); strings.Contains(got, "10.0.0") || strings.Contains(got, "corp.internal") {
			t.Errorf("retryText(%v) = %q", err, got)
		}
	}
	if got := retryText(&email.ConnError{Msg: "SMTP login refused for support@example.com", Auth: true}); !strings.Contains(got, "login") {
		t.Errorf("a refused login: %q", got)
	}
	for _, err := range []error{errors.New("451 4.7.1 greylisted, try again later"), &connectors.RetryAfterError{After: time.Minute, Err: errors.New("X's rate limit")}} {
		if got := retryText(err); got != err.Error() {
			t.Errorf("the channel's own words are lost: %q → %q", err, got)
		}
	}
}
