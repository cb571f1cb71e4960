package messenger

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"testing"
	"time"

	"kibo/connectors"
	"kibo/connectors/connectortest"
)

const testAppSecret = "0f5c1e2d3b4a59687766554433221100"

type statusLog struct {
	mu    sync.Mutex
	calls []status
}

type status struct {
	up  bool
	err error
}

func (s *statusLog) record(up bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, status{up, err})
}

func (s *statusLog) all() []status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]status(nil), s.calls...)
}

func profileServer(t *testing.T, replies []graphReply) *fakeGraph {
	if replies == nil {
		replies = []graphReply{reply(t, 200, "profile.json")}
	}
	return newFakeGraph(t, replies...)
}

func newTestConnector(t *testing.T, g *fakeGraph, st *statusLog) *Connector {
	t.Helper()
	cfg := Config{
		PageID:          testPage,
		PageAccessToken: testToken,
		AppSecret:       testAppSecret,
		VerifyToken:     "verify-me",
		GraphBaseURL:    g.URL,
		// the fake Graph API listens on loopback
		AllowPrivateHosts: true,
	}
	if st != nil {
		cfg.OnStatus = st.record
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.client.now = func() time.Time { return testNow }
	return c
}

func TestConnectorWebhookFlow(t *testing.T) {
	st := &statusLog{}
	c := newTestConnector(t, profileServer(t, nil), st)
	if c.Kind() != "messenger" {
		t.Errorf("Kind = %q", c.Kind())
	}

	q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {"verify-me"}, "hub.challenge": {"CHALLENGE_ACCEPTED"}}
	if got, err := c.Handshake(q); err != nil || string(got.Body) != "CHALLENGE_ACCEPTED" || got.ContentType != "text/plain; charset=utf-8" {
		t.Errorf("Handshake = %q, %v", got.Body, err)
	}

	body := readFixture(t, "messages_text.json")
	if c.VerifyWebhook("sha256=00", body) {
		t.Error("a bad signature verified")
	}
	if !c.VerifyWebhook(sign(testAppSecret, body), body) {
		t.Fatal("a good signature did not verify")
	}
	calls := st.all()
	if len(calls) != 2 || calls[0].up || !errors.Is(calls[0].err, ErrBadSignature) || !calls[1].up || calls[1].err != nil {
		t.Errorf("status calls = %+v", calls)
	}

	ev, err := ParseWebhook(3, body)
	if err != nil {
		t.Fatal(err)
	}
	sink := &connectortest.Sink{}
	if err := c.DeliverMessages(context.Background(), sink, ev); err != nil {
		t.Fatal(err)
	}
	if len(sink.Stored()) != 1 || sink.Stored()[0].Identity.Name != "Peter Chang" {
		t.Errorf("stored = %+v", sink.Stored())
	}
}

func TestDeliverWithoutProfile(t *testing.T) {
	g := profileServer(t, []graphReply{reply(t, 400, "error_190.json")})
	c := newTestConnector(t, g, nil)
	ev, err := ParseWebhook(3, readFixture(t, "messages_text.json"))
	if err != nil {
		t.Fatal(err)
	}
	sink := &connectortest.Sink{}
	if err := c.DeliverMessages(context.Background(), sink, ev); err != nil {
		t.Fatal(err)
	}
	if len(sink.Stored()) != 1 || sink.Stored()[0].Identity.Name != "" {
		t.Errorf("a failed profile lookup must not hold the message back: %+v", sink.Stored())
	}

	sink.Fail(errors.New("database is locked"))
	if err := c.DeliverMessages(context.Background(), sink, ev); err == nil {
		t.Error("a sink error must come back so the webhook is kept for a retry")
	}
}

func TestConnectorSendReportsStatus(t *testing.T) {
	st := &statusLog{}
	g := newFakeGraph(t,
		reply(t, 400, "error_551.json"),
		reply(t, 400, "error_190.json"),
		reply(t, 200, "send_response.json"),
	)
	c := newTestConnector(t, g, st)
	m := outbound("hi", testNow.Add(-time.Hour), "")
	if _, err := c.Send(context.Background(), m); !connectors.IsPermanent(err) {
		t.Fatalf("551: %v", err)
	}
	if len(st.all()) != 0 {
		t.Error("a refusal about one customer says nothing about the page")
	}
	if _, err := c.Send(context.Background(), m); !connectors.IsPermanent(err) {
		t.Fatalf("190: %v", err)
	}
	if _, err := c.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	calls := st.all()
	if len(calls) != 2 || calls[0].up || calls[0].err == nil || !calls[1].up || calls[1].err != nil {
		t.Errorf("status calls = %+v", calls)
	}
}

func TestRunWaitsForContext(t *testing.T) {
	c := newTestConnector(t, profileServer(t, nil), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, &connectortest.Sink{}) }()
	select {
	case <-done:
		t.Fatal("Run returned before ctx ended")
	case <-time.After(20 * time.Millisecond):
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
