package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"kibo/connectors"
	"kibo/connectors/chat"
	"kibo/server/hub"
	"kibo/store"
)

// ---- the widget socket

// widgetUpgrade admits a new widget socket (limits.go) before anything else, so a
// spike is refused with a plain 503 before it costs a query or an upgrade.
func (s *Server) widgetUpgrade(c *fiber.Ctx) error {
	if !websocket.IsWebSocketUpgrade(c) {
		return &apiError{fiber.StatusUpgradeRequired, "bad_request", "this is a WebSocket endpoint"}
	}
	h, err := s.admitWidget()
	if err != nil {
		return err
	}
	if err := s.checkWidgetInbox(c); err != nil {
		h.done()
		return err
	}
	c.Locals("handshake", h)
	if err := c.Next(); err != nil {
		h.done() // no upgrade
		return err
	}
	return nil
}

// checkWidgetInbox is the widget socket's one lookup and one check: the chat inbox of
// the page's key, and the page's origin against it. What it finds goes to chat.Serve
// with the socket.
func (s *Server) checkWidgetInbox(c *fiber.Ctx) error {
	key := c.Query("inbox")
	in, err := s.store.InboxByPublicKey(c.UserContext(), key)
	switch {
	case errors.Is(err, store.ErrNotFound) || err == nil && in.Kind != chat.Kind:
		return errNotFound("no chat inbox has the key %q", key)
	case err != nil:
		// Kibo's failure, not the page's: the widget keeps its token and comes back
		return errBusy("the chat is not available this moment: try again shortly")
	}
	// refuse a foreign page before the upgrade, so its browser gets a plain 403 (its
	// widget then asks /widget/check why, widget_origin.go)
	inbox := chatInbox(in)
	if !chat.OriginAllowed(inbox.AllowedOrigins, c.Get(fiber.HeaderOrigin)) {
		s.refusals.refused(s, in, c.Get(fiber.HeaderOrigin))
		return errForbidden("this page's origin may not open this chat")
	}
	c.Locals("inbox", inbox)
	c.Locals("ip", s.clientIP(c))
	return nil
}

func (s *Server) widgetSocket(conn *websocket.Conn) {
	inbox, _ := conn.Locals("inbox").(*chat.Inbox)
	ip, _ := conn.Locals("ip").(string)
	h, _ := conn.Locals("handshake").(*handshake)
	if inbox == nil {
		conn.Close()
		return
	}
	if h == nil {
		s.chat.Serve(conn.Conn, inbox, ip)
		return
	}
	defer h.done()
	s.chat.Serve(handshakeSocket{conn.Conn, h}, inbox, ip)
}

func chatInbox(in *store.Inbox) *chat.Inbox { return chat.ParseInbox(in.ID, in.Name, in.Settings) }

// chatBackend is the chat's view of the rest of Kibo.
type chatBackend struct{ s *Server }

func (b chatBackend) Conversation(ctx context.Context, inboxID int64, id connectors.Identity) (int64, error) {
	_, conv, err := b.s.store.VisitorConversation(ctx, inboxID, id.Kind, id.Scope, id.ExternalID)
	return conv, err
}

func (b chatBackend) History(ctx context.Context, conversationID int64) ([]chat.HistoryMessage, error) {
	msgs, err := b.s.store.Messages(ctx, conversationID, store.MessageFilter{Public: true, Limit: 200})
	if err != nil {
		return nil, err
	}
	out := make([]chat.HistoryMessage, 0, len(msgs))
	for _, m := range msgs {
		author := map[string]any{"kind": m.Author.Kind, "name": m.Author.Name}
		if m.Author.Kind == "contact" {
			author = map[string]any{"kind": "contact"}
		}
		h := chat.HistoryMessage{ID: m.ID, Author: author, Text: m.Text, ClientID: m.ClientID, CreatedAt: m.CreatedAt}
		out = append(out, h)
	}
	return out, nil
}

// Incident is the welcome frame's incident: the one customers should see now, or nil
// (broadcast.go).
func (b chatBackend) Incident(ctx context.Context) (any, error) { return b.s.widgetIncident(), nil }

func (b chatBackend) VisitorTyping(inboxID, conversationID int64, name string, on bool) {
	b.s.hub.Ephemeral(map[string]any{"type": "typing", "conversation_id": conversationID, "who": "contact", "name": name, "on": on}, nil)
}

// VisitorRead keeps how far the visitor has read (the agents see "Seen" on that
// message) and tells the open pages. It runs on the socket's reader: a visitor who
// sends reads faster than the store writes them waits for the store, nobody else.
func (b chatBackend) VisitorRead(conversationID, upTo int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	readID, moved, err := b.s.store.ContactRead(ctx, conversationID, upTo)
	if err != nil {
		b.s.log.Warn("store a visitor's read", "conversation", conversationID, "err", err)
		return
	}
	if moved {
		b.s.hub.Publish(map[string]any{"type": "conversation.seen", "conversation_id": conversationID, "contact_read_id": readID})
	}
}

// ---- the agents' real-time socket

func (s *Server) agentUpgrade(c *fiber.Ctx) error {
	if !websocket.IsWebSocketUpgrade(c) {
		return &apiError{fiber.StatusUpgradeRequired, "bad_request", "this is a WebSocket endpoint"}
	}
	// a page on another site must not open an agent's socket with their cookie
	if c.Locals(localVia) == "session" && !sameOrigin(c.Get(fiber.HeaderOrigin), c.Hostname()) {
		return errForbidden("the real-time socket is only for Kibo's own pages")
	}
	since, _ := strconv.ParseInt(c.Query("since"), 10, 64)
	c.Locals("since", since)
	return c.Next()
}

// Why the hub closes an agent's socket (hub.Disconnect), and the close code each gets:
// a page told it was signed out goes to the login; one told its access changed
// reconnects at once and hears what its agent may hear now.
const (
	reasonSignedOut     = "signed out"
	reasonAccessChanged = "access changed"
	closeSignedOut      = 4401
	closeAccessChanged  = 4409
)

func (s *Server) agentSocket(conn *websocket.Conn) {
	agent, _ := conn.Locals(localAgent).(*store.Agent)
	cred, _ := conn.Locals(localCred).(*credential)
	since, _ := conn.Locals("since").(int64)
	if agent == nil || cred == nil {
		conn.Close()
		return
	}
	viewer := hub.Viewer{AgentID: agent.ID, Name: agent.Name, Admin: agent.IsAdmin(), Credential: cred.ref()}
	sub, current, resync := s.hub.Subscribe(viewer, since, 512)
	defer s.hub.Unsubscribe(sub)
	// a logout or revocation between the upgrade and Subscribe missed this page:
	// look once more now that any later one will find it
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_, err := s.credentialAgent(ctx, cred)
	cancel()
	if errors.Is(err, store.ErrNotFound) {
		conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(closeSignedOut, "signed out: sign in again"), time.Now().Add(time.Second))
		conn.Close()
		return
	}
	hello, _ := json.Marshal(map[string]any{"type": "hello", "seq": current, "agent": agent})
	done := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		// the only writer of this socket
		defer close(writerDone)
		defer conn.Close()
		ping := time.NewTicker(25 * time.Second)
		defer ping.Stop()
		// Kibo closes the socket itself when the credential ends here; this catches
		// what ends elsewhere (expiry, the CLI, another node)
		recheck := time.NewTicker(s.cfg.CredentialRecheck)
		defer recheck.Stop()
		goodbye := func(code int, why string) {
			conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, why), time.Now().Add(time.Second))
		}
		conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if conn.WriteMessage(websocket.TextMessage, hello) != nil {
			return
		}
		if resync {
			conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"resync"}`))
		}
		for {
			select {
			case b, ok := <-sub.C:
				if !ok {
					switch sub.Reason() {
					case reasonSignedOut:
						goodbye(closeSignedOut, "signed out: sign in again")
					case reasonAccessChanged:
						goodbye(closeAccessChanged, "access changed: reconnect")
					default:
						// dropped for being slow: close so the page reconnects and replays
						goodbye(websocket.CloseTryAgainLater, "too slow: reconnect")
					}
					return
				}
				conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
				if conn.WriteMessage(websocket.TextMessage, b) != nil {
					return
				}
			case <-ping.C:
				if conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(5*time.Second)) != nil {
					return
				}
			case <-recheck.C:
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				now, err := s.credentialAgent(ctx, cred)
				cancel()
				switch {
				case errors.Is(err, store.ErrNotFound):
					goodbye(closeSignedOut, "signed out: sign in again")
					return
				case err == nil && now.Role != agent.Role:
					goodbye(closeAccessChanged, "access changed: reconnect")
					return
				}
			case <-done:
				return
			}
		}
	}()
	// the library reuses conn once this handler returns: wait for the writer first
	defer func() {
		close(done)
		<-writerDone
	}()
	conn.SetReadLimit(16 * 1024)
	conn.SetReadDeadline(time.Now().Add(70 * time.Second))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(70 * time.Second)) })
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		conn.SetReadDeadline(time.Now().Add(70 * time.Second))
		var f struct {
			Type           string `json:"type"`
			ConversationID int64  `json:"conversation_id"`
			On             bool   `json:"on"`
		}
		if json.Unmarshal(data, &f) != nil {
			continue
		}
		switch f.Type {
		case "viewing":
			s.hub.View(sub, f.ConversationID)
		case "typing":
			if f.ConversationID == 0 {
				continue
			}
			s.hub.Replying(sub, f.ConversationID, f.On)
			// the visitor sees "Sam is typing"
			s.chat.Push(f.ConversationID, map[string]any{"type": "typing", "on": f.On, "name": agent.Name})
		}
	}
}

// sameOrigin tells whether an Origin header names this host (an empty one is a
// non-browser client).
func sameOrigin(origin, host string) bool {
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, host)
}
