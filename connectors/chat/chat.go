// Package chat is the website widget's channel: the visitor side of the widget
// protocol in docs/WIDGET.md, over a WebSocket the server has already upgraded.
//
// The promise it keeps is exactly-once: a message is acknowledged only after the sink
// has committed it, and a message resent with the same client_id gets the same ack and
// stores nothing new. Sessions are kept per conversation so agent replies, typing and
// incident notices reach every open tab of the visitor at once.
package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"kibo/connectors"
)

// MaxFrame is the largest frame a visitor may send (docs/WIDGET.md).
const MaxFrame = 16 * 1024

// MaxText is the largest message text, well inside a frame.
const MaxText = 8000

// Socket is the part of a WebSocket connection the chat needs; fasthttp/websocket's
// and gorilla's Conn both have it, so this package needs no HTTP framework.
type Socket interface {
	ReadMessage() (messageType int, p []byte, err error)
	WriteMessage(messageType int, data []byte) error
	WriteControl(messageType int, data []byte, deadline time.Time) error
	SetReadLimit(limit int64)
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	SetPongHandler(h func(appData string) error)
	UnderlyingConn() net.Conn
	Close() error
}

// WebSocket message and close codes (RFC 6455), so callers need not import a library.
const (
	textMessage  = 1
	closeMessage = 8
	pingMessage  = 9

	closeNormal         = 1000
	closePolicyViolated = 1008
	closeTooBig         = 1009
	closeTryAgainLater  = 1013
	// closeConversationGone ends the sockets of a deleted or erased conversation: the
	// widget reconnects, its token no longer finds a conversation, and it starts afresh.
	closeConversationGone = 4004
)

// Inbox is what the chat needs to know of a chat inbox.
type Inbox struct {
	ID             int64
	Name           string
	AllowedOrigins []string
	IdentitySecret string
	BrandColor     string
	Greeting       string
}

// HistoryMessage is a message as the visitor sees it.
type HistoryMessage struct {
	ID          int64            `json:"id"`
	Author      map[string]any   `json:"author"`
	Text        string           `json:"text"`
	ClientID    string           `json:"client_id,omitempty"`
	CreatedAt   time.Time        `json:"created_at"`
	Attachments []map[string]any `json:"attachments,omitempty"`
}

// Backend is what the chat asks of the rest of Kibo. The server implements it on top
// of the store.
type Backend interface {
	// Conversation returns the visitor's latest conversation in the inbox (0 if none).
	Conversation(ctx context.Context, inboxID int64, id connectors.Identity) (int64, error)
	// History returns what the visitor may see of a conversation: no private notes.
	History(ctx context.Context, conversationID int64) ([]HistoryMessage, error)
	// Incident is the open incident to show in the widget, or nil.
	Incident(ctx context.Context) (any, error)
	// VisitorTyping tells the agents. VisitorRead keeps how far the visitor has read
	// the agents' messages, and tells the agents; each socket reports only reads that
	// move forward.
	VisitorTyping(inboxID, conversationID int64, name string, on bool)
	VisitorRead(conversationID, upTo int64)
}

// Server holds the widget sessions. It is also the chat's connectors.Connector: Send
// pushes an agent's reply to the visitor's open sockets (the reply is already stored,
// and the widget reads history from the store on its next visit).
type Server struct {
	backend Backend
	limits  Limits

	mu       sync.Mutex
	sink     connectors.Sink
	byConv   map[int64]map[*session]struct{}
	all      map[*session]struct{}
	perIP    map[string]int
	sinkWait chan struct{}
	newConvs *addressBuckets
}

// New makes the chat server.
func New(b Backend, limits Limits) *Server {
	if limits.MessagesPerSecond <= 0 {
		limits.MessagesPerSecond = 20
	}
	if limits.Burst <= 0 {
		limits.Burst = 40
	}
	if limits.IdleTimeout <= 0 {
		limits.IdleTimeout = 75 * time.Second
	}
	return &Server{backend: b, limits: limits, byConv: map[int64]map[*session]struct{}{}, all: map[*session]struct{}{},
		perIP: map[string]int{}, sinkWait: make(chan struct{}),
		newConvs: newAddressBuckets(limits.NewConversationsPerMinute, limits.NewConversationsBurst)}
}

// Kind is the chat's kind.
func (s *Server) Kind() string { return Kind }

// Run takes the sink and waits until ctx ends: visitors arrive through Serve.
func (s *Server) Run(ctx context.Context, sink connectors.Sink) error {
	s.mu.Lock()
	if s.sink == nil {
		s.sink = sink
		close(s.sinkWait)
	}
	s.mu.Unlock()
	<-ctx.Done()
	return nil
}

// Send pushes a stored agent reply to the visitor's open sockets, and ends that
// agent's "is typing" there: the reply is what they were typing.
func (s *Server) Send(ctx context.Context, m connectors.Outbound) (string, error) {
	s.Push(m.ConversationID, map[string]any{
		"type": "message", "id": m.MessageID, "author": map[string]any{"kind": "agent", "name": m.AuthorName},
		"text": m.Text, "created_at": time.Now().UTC(),
	})
	s.Push(m.ConversationID, map[string]any{"type": "typing", "on": false, "name": m.AuthorName})
	return "", nil
}

// Push sends a frame to every socket of a conversation.
func (s *Server) Push(conversationID int64, frame map[string]any) {
	b, err := json.Marshal(frame)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for ss := range s.byConv[conversationID] {
		ss.enqueue(b)
	}
}

// CloseConversations closes every widget socket bound to these conversations, after
// they were deleted or erased: nothing sent to those ids afterwards reaches the visitor,
// and the widget reconnects and starts afresh. It returns how many it closed.
func (s *Server) CloseConversations(ids ...int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, id := range ids {
		for ss := range s.byConv[id] {
			ss.close(closeConversationGone, "conversation closed")
			n++
		}
		delete(s.byConv, id)
	}
	return n
}

// Broadcast sends a frame to every open widget (incident notices).
func (s *Server) Broadcast(frame map[string]any) int {
	b, err := json.Marshal(frame)
	if err != nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for ss := range s.all {
		ss.enqueue(b)
	}
	return len(s.all)
}

// Online tells whether a conversation has an open widget (for the agent's view).
func (s *Server) Online(conversationID int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byConv[conversationID]) > 0
}

// Connections is the number of open widget sockets.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.all)
}

// OriginAllowed tells whether a page at origin may open the inbox's widget: any page
// when the inbox lists no origins, otherwise an exact scheme://host[:port] match
// (a leading "*." allows subdomains).
func OriginAllowed(allowed []string, origin string) bool {
	if len(allowed) == 0 {
		return true
	}
	origin = strings.TrimRight(strings.ToLower(origin), "/")
	for _, a := range allowed {
		a = strings.TrimRight(strings.ToLower(strings.TrimSpace(a)), "/")
		if a == "" {
			continue
		}
		if a == "*" || a == origin {
			return true
		}
		if scheme, host, ok := strings.Cut(a, "://*."); ok {
			if o, ok := strings.CutPrefix(origin, scheme+"://"); ok && strings.HasSuffix(o, "."+host) {
				return true
			}
		}
	}
	return false
}

// ---- one visitor socket

type session struct {
	srv      *Server
	sock     Socket
	inbox    *Inbox
	ip       string
	identity connectors.Identity
	convID   int64
	name     string
	out      chan []byte
	closed   chan struct{}
	once     sync.Once
	// set before closed is closed
	closeCode   int
	closeReason string
	writerDone  chan struct{}
	// readerDone is closed when Serve stops reading: only then may the writer read
	// what is left on the connection (linger)
	readerDone chan struct{}
	token      string
	page       string
	// token bucket for messages
	tokens float64
	last   time.Time
	typing typingGate
	// readUpTo is the last read reported: a repeated or older one is not written
	readUpTo int64
}

func (ss *session) enqueue(b []byte) {
	select {
	case ss.out <- b:
	case <-ss.closed:
	default:
		// a visitor that reads nothing for a full buffer is gone: close, it reconnects
		ss.close(closeTryAgainLater, "too slow")
	}
}

// close asks the writer to flush what is queued (an error frame), send a close frame
// and close the socket; the writer is the only goroutine that writes.
func (ss *session) close(code int, reason string) {
	ss.once.Do(func() {
		ss.closeCode, ss.closeReason = code, reason
		close(ss.closed)
	})
}

func closeFrame(code int, reason string) []byte {
	b := []byte{byte(code >> 8), byte(code)}
	return append(b, reason...)
}

// Serve runs one visitor socket until it closes. inbox is the chat inbox the upgrade
// found by the page's key, after checking the page's origin against it (the server's
// one lookup and one check); ip is the visitor's address.
func (s *Server) Serve(sock Socket, inbox *Inbox, ip string) {
	s.mu.Lock()
	busy := ""
	switch {
	case s.limits.MaxConnections > 0 && len(s.all) >= s.limits.MaxConnections:
		busy = "server busy: try again later"
	case s.limits.PerIPConnections > 0 && s.perIP[ip] >= s.limits.PerIPConnections && limitsAddress(ip):
		busy = "too many chats open from this address: try again later"
	}
	if busy != "" {
		s.mu.Unlock()
		sock.WriteControl(closeMessage, closeFrame(closeTryAgainLater, busy), time.Now().Add(time.Second))
		sock.Close()
		return
	}
	s.perIP[ip]++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.perIP[ip]--; s.perIP[ip] <= 0 {
			delete(s.perIP, ip)
		}
		s.mu.Unlock()
	}()

	ss := &session{srv: s, sock: sock, inbox: inbox, ip: ip, out: make(chan []byte, 64), closed: make(chan struct{}), writerDone: make(chan struct{}),
		readerDone: make(chan struct{}), tokens: float64(s.limits.Burst), last: time.Now()}
	ss.typing.tell = func(convID int64, on bool) { s.backend.VisitorTyping(ss.inbox.ID, convID, ss.name, on) }
	defer ss.typing.stop()
	sock.SetReadLimit(MaxFrame)
	go ss.writeLoop()
	defer s.leave(ss)
	defer func() {
		close(ss.readerDone)
		ss.close(closeNormal, "")
		<-ss.writerDone
	}()

	ctx := context.Background()
	idle := s.limits.IdleTimeout
	sock.SetReadDeadline(time.Now().Add(idle))
	sock.SetPongHandler(func(string) error { return sock.SetReadDeadline(time.Now().Add(idle)) })
	helloed := false
	for {
		_, data, err := sock.ReadMessage()
		if err != nil {
			if isTooLarge(err) {
				ss.sendError("too_large", fmt.Sprintf("frames are limited to %d bytes", MaxFrame))
				ss.close(closeTooBig, "frame too large")
			}
			return
		}
		select {
		case <-ss.closed:
			return // closed from elsewhere (an erasure): the writer waits for this
		default:
		}
		sock.SetReadDeadline(time.Now().Add(idle))
		var f frameIn
		if err := json.Unmarshal(data, &f); err != nil || !utf8.Valid(data) {
			if !helloed {
				ss.sendError("unauthorized", "the first frame must be a hello")
				return
			}
			ss.sendError("bad_request", "frames are JSON objects with a type")
			continue
		}
		if !helloed {
			if f.Type != "hello" {
				ss.sendError("unauthorized", "the first frame must be a hello")
				return
			}
			if err := ss.hello(ctx, f); err != nil {
				ss.refuse(err)
				return
			}
			helloed = true
			continue
		}
		switch f.Type {
		case "message":
			ss.message(ctx, f)
		case "typing":
			if ss.convID != 0 {
				ss.typing.set(ss.convID, f.On, time.Now())
			}
		case "read":
			if ss.convID != 0 && f.UpTo > ss.readUpTo {
				ss.readUpTo = f.UpTo
				s.backend.VisitorRead(ss.convID, f.UpTo)
			}
		case "hello":
			ss.sendError("bad_request", "hello was already sent")
		default:
			ss.sendError("bad_request", fmt.Sprintf("unknown frame type %q", f.Type))
		}
	}
}

// errTryAgain is a failure on Kibo's side (the store did not answer), not the
// visitor's: the widget must keep its token and come back, not start over as a
// stranger, which is what it does after unauthorized.
var errTryAgain = errors.New("the chat is not available this moment: try again shortly")

// refuse ends a socket that could not be welcomed: unauthorized for what the visitor
// sent, rate_limited and close code 1013 (try again later) for Kibo's own failure.
func (ss *session) refuse(err error) {
	if errors.Is(err, errTryAgain) {
		ss.sendError("rate_limited", err.Error())
		ss.close(closeTryAgainLater, "try again later")
		return
	}
	ss.sendError("unauthorized", err.Error())
}

func isTooLarge(err error) bool {
	// both gorilla and fasthttp/websocket say "read limit exceeded"
	return err != nil && strings.Contains(err.Error(), "read limit exceeded")
}

type frameIn struct {
	Type     string          `json:"type"`
	Token    string          `json:"token"`
	Identity *identityIn     `json:"identity"`
	Page     string          `json:"page"`
	ClientID string          `json:"client_id"`
	Text     string          `json:"text"`
	On       bool            `json:"on"`
	UpTo     int64           `json:"up_to"`
	Extra    json.RawMessage `json:"-"`
}

func (ss *session) hello(ctx context.Context, f frameIn) error {
	s := ss.srv
	scope := fmt.Sprint(ss.inbox.ID)
	token := f.Token
	var visitor connectors.Identity
	if token != "" {
		visitor = connectors.Identity{Kind: "visitor", Scope: scope, ExternalID: hashToken(token)}
		conv, err := s.backend.Conversation(ctx, ss.inbox.ID, visitor)
		if err != nil {
			return errTryAgain
		}
		if conv == 0 {
			// a token we never stored (forged, or a visitor who never wrote): start afresh
			// with one of ours, so nobody chooses their own token
			token = ""
		} else {
			ss.convID = conv
		}
	}
	if token == "" {
		token = newToken()
		visitor = connectors.Identity{Kind: "visitor", Scope: scope, ExternalID: hashToken(token)}
	}
	ss.identity = visitor
	if f.Identity != nil && f.Identity.ID != "" {
		id, err := verifyIdentity(ss.inbox.IdentitySecret, f.Identity, time.Now())
		if err != nil {
			return err
		}
		id.Scope = scope
		ss.identity = id
		ss.name = id.Name
		conv, err := s.backend.Conversation(ctx, ss.inbox.ID, id)
		if err != nil {
			return errTryAgain
		}
		if conv != 0 {
			ss.convID = conv
		}
	}
	history := []HistoryMessage{}
	if ss.convID != 0 {
		h, err := s.backend.History(ctx, ss.convID)
		if err != nil {
			return errTryAgain
		}
		history = h
	}
	incident, _ := s.backend.Incident(ctx)
	var convField any
	if ss.convID != 0 {
		convField = ss.convID
		ss.srv.join(ss, ss.convID)
	}
	ss.srv.mu.Lock()
	ss.srv.all[ss] = struct{}{}
	ss.srv.mu.Unlock()
	ss.token = token
	ss.send(map[string]any{
		"type": "welcome", "token": token, "conversation_id": convField, "messages": history, "incident": incident,
		"inbox": map[string]any{"name": ss.inbox.Name, "brand_color": ss.inbox.BrandColor, "greeting": ss.inbox.Greeting},
	})
	ss.page = f.Page
	return nil
}

func (ss *session) message(ctx context.Context, f frameIn) {
	if f.ClientID == "" || len(f.ClientID) > 100 {
		ss.sendError("bad_request", "a message needs a client_id of at most 100 characters")
		return
	}
	text := strings.TrimSpace(f.Text)
	if text == "" {
		ss.sendError("bad_request", "the message is empty")
		return
	}
	if utf8.RuneCountInString(f.Text) > MaxText {
		ss.sendError("too_large", fmt.Sprintf("messages are limited to %d characters", MaxText))
		return
	}
	if !ss.allow() {
		ss.sendError("rate_limited", "too many messages: slow down and send again in a moment")
		return
	}
	if ss.convID == 0 && !ss.srv.newConvs.take(ss.ip, time.Now()) {
		ss.sendError("rate_limited", "too many new conversations from this address: the message will be sent again in a moment")
		return
	}
	s := ss.srv
	select {
	case <-s.sinkWait:
	case <-time.After(5 * time.Second):
		ss.sendError("rate_limited", "the server is starting: send again in a moment")
		return
	}
	in := connectors.Inbound{
		InboxID: ss.inbox.ID, Identity: ss.identity, ClientID: f.ClientID, ConversationID: ss.convID,
		Text: f.Text, SentAt: time.Now(),
	}
	if ss.page != "" {
		in.Metadata = map[string]string{"page": truncate(ss.page, 500)}
	}
	d, err := s.sink.Deliver(ctx, in)
	if errors.Is(err, connectors.ErrConversationGone) {
		// deleted or erased under this socket: the widget keeps the message, reconnects
		// and starts afresh
		ss.close(closeConversationGone, "conversation closed")
		return
	}
	if err != nil {
		// not stored, so not acked: the widget keeps it and resends
		ss.sendError("rate_limited", "the message could not be stored yet: it will be sent again")
		return
	}
	if ss.convID != d.ConversationID {
		ss.convID = d.ConversationID
		s.join(ss, d.ConversationID)
	}
	ss.send(map[string]any{"type": "ack", "client_id": f.ClientID, "id": d.MessageID, "conversation_id": d.ConversationID, "created_at": d.CreatedAt.UTC()})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func (ss *session) send(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	ss.enqueue(b)
}

func (ss *session) sendError(code, msg string) {
	ss.send(map[string]any{"type": "error", "code": code, "message": msg})
}

// writeLoop is the only writer of the socket; it also pings so dead peers are found,
// and it closes the socket when the session ends.
func (ss *session) writeLoop() {
	defer func() {
		// A close from elsewhere (an erasure, a slow visitor) finds the reader still
		// waiting for a frame: wake it, and let it finish before reading the rest.
		ss.sock.SetReadDeadline(time.Now())
		<-ss.readerDone
		ss.linger()
		ss.sock.Close()
		close(ss.writerDone)
	}()
	ping := time.NewTicker(30 * time.Second)
	defer ping.Stop()
	for {
		select {
		case b := <-ss.out:
			ss.sock.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := ss.sock.WriteMessage(textMessage, b); err != nil {
				ss.close(closeNormal, "")
				return
			}
		case <-ping.C:
			if err := ss.sock.WriteControl(pingMessage, nil, time.Now().Add(5*time.Second)); err != nil {
				ss.close(closeNormal, "")
				return
			}
		case <-ss.closed:
			// flush what is queued (an error frame before the close), then say goodbye
			for {
				select {
				case b := <-ss.out:
					ss.sock.SetWriteDeadline(time.Now().Add(time.Second))
					ss.sock.WriteMessage(textMessage, b)
					continue
				default:
				}
				break
			}
			ss.sock.WriteControl(closeMessage, closeFrame(ss.closeCode, ss.closeReason), time.Now().Add(time.Second))
			return
		}
	}
}

// linger reads and discards what the visitor still sends, for a moment, before the
// socket closes: closing with unread data (the rest of an oversized frame) makes the
// kernel answer with a reset, and the visitor would never read the error and close
// frames that say why.
func (ss *session) linger() {
	c := ss.sock.UnderlyingConn()
	if c == nil {
		return
	}
	if tc, ok := c.(interface{ CloseWrite() error }); ok {
		tc.CloseWrite()
	}
	c.SetReadDeadline(time.Now().Add(time.Second))
	io.Copy(io.Discard, io.LimitReader(c, 1<<20))
}

func (s *Server) join(ss *session, convID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c, set := range s.byConv {
		if _, ok := set[ss]; ok && c != convID {
			delete(set, ss)
			if len(set) == 0 {
				delete(s.byConv, c)
			}
		}
	}
	if s.byConv[convID] == nil {
		s.byConv[convID] = map[*session]struct{}{}
	}
	s.byConv[convID][ss] = struct{}{}
}

func (s *Server) leave(ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.all, ss)
	if set := s.byConv[ss.convID]; set != nil {
		delete(set, ss)
		if len(set) == 0 {
			delete(s.byConv, ss.convID)
		}
	}
}
