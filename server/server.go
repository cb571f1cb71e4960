// Package server is Kibo's HTTP side: the agent API and pages of docs/API.md, the
// widget socket, the webhooks, the agents' real-time hub and the outbox worker.
//
// Handlers stay thin: they parse, check the role, call the store or a workflow,
// publish an event. The domain lives in store (SQL) and connectors (channels); the
// workflows (incidents, SLA, alerts, data requests, the follow-ups of inbound
// messages, the live counts) are packages under server/ that workflows.go wires; the
// route table in routes.go is the one place to read what the server answers.
package server

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"kibo/connectors"
	"kibo/connectors/chat"
	"kibo/connectors/netguard"
	"kibo/server/alerts"
	"kibo/server/counts"
	"kibo/server/datarequests"
	"kibo/server/events"
	"kibo/server/hub"
	"kibo/server/incidents"
	"kibo/server/sla"
	"kibo/store"
	"kibo/ui"
)

// Config is what the server is told at start.
type Config struct {
	Addr string
	// PublicURL is how browsers reach Kibo (for the widget snippet and cookies); empty
	// means the address of each request.
	PublicURL string
	// SecureCookies forces the Secure flag on the session cookie; it is on when
	// PublicURL is https, and set for requests that came over https.
	SecureCookies bool
	// TrustedProxies are the reverse proxies (IPs or CIDR ranges) whose
	// X-Forwarded-For, -Proto and -Host headers are believed; nobody's by default.
	TrustedProxies []string
	// MaxInFlight caps concurrent API requests; past it Kibo answers 503 with
	// Retry-After instead of stalling.
	MaxInFlight int
	// MaxHeavy caps concurrent requests to the expensive API routes, in each of their
	// two classes (lists and search; reports, exports and bulk changes: routes.go says
	// which), so that a burst of them leaves cores to the chat; a request waits at most
	// HeavyWait for a slot, then gets 503 with Retry-After. Zero means half the cores
	// (at least 1) and 100 ms.
	MaxHeavy  int
	HeavyWait time.Duration
	// MaxHandshakes caps widget sockets between the upgrade request and the welcome
	// frame; past it, or when Chat.MaxConnections are taken, the upgrade gets 503 with
	// Retry-After. A visitor has HandshakeTimeout to send the hello. Zero means 512 per
	// core (limitDefaults, limits.go) and 10 s.
	MaxHandshakes    int
	HandshakeTimeout time.Duration
	Chat             chat.Limits
	// Channels are the channels this Kibo runs (cmd/kibo registers them, one line
	// each); nil runs none, which suits tests of the workers alone.
	Channels *connectors.Registry
	// AllowPrivateHosts lets the hosts an admin types (IMAP and SMTP servers, the
	// Messenger and X API base URLs, the alerts webhook) be loopback, private or
	// link-local addresses (netguard). Off, they are refused when saved and on every
	// connection; tests and a mail server on Kibo's own machine turn it on.
	AllowPrivateHosts bool
	// CredentialRecheck is how often an agent's open socket checks that its session or
	// token still holds (ended from another process, expired); zero means 30 s.
	// Within Kibo, logout, revocation and changes of access close sockets at once.
	CredentialRecheck time.Duration
	// TokenUseEvery is the least time between two writes of one API token's
	// last_used_at; zero means a minute.
	TokenUseEvery time.Duration
	// OutboxInterval is how often the outbox looks for due sends when not woken.
	OutboxInterval time.Duration
	// RetryBase is the first wait before a failed send is tried again; it doubles up
	// to 30 minutes.
	RetryBase time.Duration
	// Now is the clock; tests inject one.
	Now func() time.Time
}

// Server ties the pieces together. Construct it with New, start its workers with Start
// and serve with Listen.
type Server struct {
	cfg      Config
	store    *store.Store
	hub      *hub.Hub
	chat     *chat.Server
	log      *slog.Logger
	pages    *template.Template
	app      *fiber.App
	channels *channels
	outbox   *outboxWorker
	// published tells the agents about inbound messages, in batches
	published *publisher
	// events is what the agents' pages are told (server/events)
	events *events.Publisher
	// the workflows, their own types with their own dependencies (workflows.go)
	liveCounts   *counts.Pusher // the inbox counts, pushed to the open pages on a change
	followups    inboundWork    // what follows each inbound message, durably
	incidents    *incidents.Broadcaster
	dueTimes     *sla.DueTimes
	alerts       *alerts.Team
	dataRequests *datarequests.Tracker
	metrics      *metrics
	tokenUse     *tokenUse // API tokens' last_used_at, written off the request path
	proxies      *trustedProxies
	logins       *loginThrottle // throttle.go
	auth         *authCache     // who a cookie or token stands for (authcache.go)
	refusals     refusedPages   // widget pages refused for their origin (widget_origin.go)

	inFlight       atomic.Int64
	listSlots      *gate // limits.go: lists and search
	longSlots      *gate // limits.go: reports, exports, bulk changes
	handshakeSlots *gate
	ready          atomic.Bool

	bg     sync.WaitGroup
	cancel context.CancelFunc
}

// New builds the server on an open store.
func New(cfg Config, st *store.Store, log *slog.Logger) (*Server, error) {
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 1024
	}
	if cfg.OutboxInterval <= 0 {
		cfg.OutboxInterval = 2 * time.Second
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CredentialRecheck <= 0 {
		cfg.CredentialRecheck = 30 * time.Second
	}
	if cfg.TokenUseEvery <= 0 {
		cfg.TokenUseEvery = time.Minute
	}
	if strings.HasPrefix(strings.ToLower(cfg.PublicURL), "https://") {
		cfg.SecureCookies = true
	}
	proxies, err := parseTrustedProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	limitDefaults(&cfg)
	pages, err := ui.Templates()
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	s := &Server{cfg: cfg, store: st, hub: hub.New(16384), log: log, pages: pages, metrics: newMetrics(),
		listSlots: newGate(cfg.MaxHeavy, cfg.HeavyWait), longSlots: newGate(cfg.MaxHeavy, cfg.HeavyWait),
		handshakeSlots: newGate(cfg.MaxHandshakes, 0), tokenUse: newTokenUse(cfg.TokenUseEvery), proxies: proxies,
		logins: newLoginThrottle(cfg.Now), auth: newAuthCache(cfg.Now)}
	s.chat = chat.New(chatBackend{s}, cfg.Chat)
	s.channels = newChannels(s, cfg.Channels)
	// the widget socket is Kibo's own route: the chat's one connector serves every
	// chat inbox
	s.channels.host(chat.Kind, s.chat)
	s.outbox = newOutboxWorker(s)
	s.published = newPublisher(s, 8192)
	s.newWorkflows()
	s.app = fiber.New(fiber.Config{
		AppName:               "kibo",
		DisableStartupMessage: true,
		ErrorHandler:          s.errorHandler,
		BodyLimit:             32 << 20,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          60 * time.Second,
		IdleTimeout:           120 * time.Second,
		// X-Forwarded-Proto and -Host count only from a trusted proxy; the client's
		// address is read by clientIP (proxies.go), not by c.IP()
		EnableTrustedProxyCheck: true,
		TrustedProxies:          proxies.list(),
		ProxyHeader:             "",
	})
	s.routes()
	return s, nil
}

// hosts is the policy for the hosts admins type into settings.
func (s *Server) hosts() netguard.Policy {
	return netguard.Policy{AllowPrivate: s.cfg.AllowPrivateHosts}
}

// App is the Fiber app, for tests (app.Test).
func (s *Server) App() *fiber.App { return s.app }

// Hub is the agents' real-time hub.
func (s *Server) Hub() *hub.Hub { return s.hub }

// Start runs the background workers: connectors, outbox, the workflows.
func (s *Server) Start(ctx context.Context) {
	ctx, s.cancel = context.WithCancel(ctx)
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		s.chat.Run(ctx, sink{s})
	}()
	s.channels.start(ctx)
	s.replayWebhooks(ctx)
	s.bg.Add(3)
	go func() { defer s.bg.Done(); s.published.run(ctx) }()
	go func() { defer s.bg.Done(); s.outbox.run(ctx) }()
	go func() { defer s.bg.Done(); s.tokenUse.run(ctx, s.store, s.cfg.Now, s.log) }()
	s.startWorkflows(ctx)
	s.ready.Store(true)
}

// Listen serves HTTP on ln until Shutdown.
func (s *Server) Listen(ln net.Listener) error { return s.app.Listener(ln) }

// Shutdown stops accepting, lets in-flight requests finish, stops the workers. The
// caller closes the store afterwards (which commits messages already queued).
func (s *Server) Shutdown(timeout time.Duration) error {
	s.ready.Store(false)
	err := s.app.ShutdownWithTimeout(timeout)
	if s.cancel != nil {
		s.cancel()
	}
	s.channels.stop()
	s.bg.Wait()
	s.hub.Close()
	return err
}

// baseURL is how a browser reaches this server.
func (s *Server) baseURL(c *fiber.Ctx) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimRight(s.cfg.PublicURL, "/")
	}
	return c.Protocol() + "://" + c.Hostname()
}

var errUnavailable = errors.New("unavailable")
