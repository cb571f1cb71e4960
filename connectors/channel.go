package connectors

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"kibo/connectors/netguard"
)

// Channel describes one kind of channel to the rest of Kibo: everything the server
// would otherwise have to ask by the kind's name. Each channel's package builds its own
// (chat.Channel(), email.Channel(), ...), and cmd/kibo registers them, one line each;
// the server looks up the descriptor of an inbox's kind and asks it. A new channel is
// a new package and a new line there, nothing else (docs/CHANNELS.md).
//
// The zero value of every field is the common answer, so a descriptor names only what
// is particular to its channel.
type Channel struct {
	// Kind names the channel in inboxes, conversations and identities: "email".
	Kind string
	// Name is the channel in a sentence to an agent: "e-mail", "Messenger", "the chat
	// widget".
	Name string
	// Title is the channel as a label (a report's legend, a list): "E-mail"; Color its
	// colour in charts. Empty Title: the kind.
	Title, Color string
	// Subjects says the customer writes a subject of their own (e-mail): what Kibo reads
	// in a message (data-request detection) reads it too. Elsewhere a conversation's
	// subject is only the opening words of its first message.
	Subjects bool
	// Broadcast is the least time between two messages of an incident's update sent
	// through this channel to the people it concerns, so a large audience neither trips
	// the platform's limits nor delays the agents' own replies. Zero: incidents reach
	// this channel's people another way (the chat's widget shows them), not by message.
	Broadcast time.Duration

	// Secrets are the settings an admin writes and never reads back: the API shows
	// whether each is set. A key is secret wherever it stands in the settings (e-mail's
	// "password" under both "imap" and "smtp").
	Secrets []string
	// Generated are secret settings Kibo makes for a new inbox (random, at creation),
	// shown once in the answer that creates it; an admin may have a new one made (the
	// chat's identity secret).
	Generated []string
	// Validate checks an inbox's settings as an admin saves them (a change is merged
	// with the stored settings first), with words that say what to fix. hosts is the
	// installation's policy for hosts typed into settings: Validate checks every host
	// and base URL the connector would reach. Nil accepts anything.
	Validate func(ctx context.Context, settings Settings, hosts netguard.Policy) error
	// Snippet, when set, is what a website pastes to embed the channel: such an inbox
	// gets a public key at creation, and its view shows the key and the snippet.
	Snippet func(baseURL, publicKey string) string
	// Webhook says the platform calls each inbox at /webhooks/{kind}/{inbox id}: its
	// connector implements Webhook, and its view shows that URL.
	Webhook bool

	// ReuseOpen threads a message that names no conversation and finds none by its
	// references or ticket token onto the sender's latest unresolved conversation in
	// the inbox (chat, Messenger, X: one ongoing thread per person). Without it, such a
	// message opens a conversation of its own (e-mail: every new subject is a ticket).
	ReuseOpen bool

	// Replies says what an agent's reply may carry, when it may go and how.
	Replies Replies

	// Connect builds the connector of one inbox from its settings (applying the
	// channel's defaults to what they leave out). Nil for the channel Kibo serves
	// itself over its own routes, the chat, whose one connector the server hosts.
	Connect func(in Inbox, env Env) (Connector, error)
}

// Replies are a channel's rules for an agent's reply (not for a private note, which
// never leaves Kibo).
type Replies struct {
	// Direct replies are handed to the connector's Send as soon as they are stored,
	// without the outbox: for a channel whose sending can't fail in a way a retry
	// mends. The chat's Send pushes the reply to the visitor's open widgets, and a
	// widget opened later reads it from the store. Every other reply is queued in the
	// outbox and retried until the platform takes it or refuses it for good.
	Direct bool
	// Files says a reply may carry files; FileTypes, when set, are the media types it
	// may carry ("image/png", or "image/*" for all images).
	Files     bool
	FileTypes []string
	// Check, when set, refuses a reply before anything is stored: a platform window
	// that has closed (Messenger's 24 hours). It returns a *Refusal.
	Check func(d Draft) error
	// ExternalID, when set, makes the channel's id of a reply before its first
	// attempt, from the inbox's settings (an e-mail's Message-ID): stored with the
	// reply, so an answer threads onto it whatever happens to the send.
	ExternalID func(settings Settings) string
}

// Draft is a reply before it is stored, as its channel judges it.
type Draft struct {
	// LastInboundAt is when the customer last wrote (zero: never).
	LastInboundAt time.Time
	Now           time.Time
	// Tag is the platform message tag the agent asked for (HUMAN_AGENT), or "".
	Tag   string
	Files []Attachment
}

// AcceptReply says whether the channel takes a reply: its files (Replies.Files and
// FileTypes), then the channel's own Check. A no is a *Refusal the agent can act on.
func (ch *Channel) AcceptReply(d Draft) error {
	for _, f := range d.Files {
		switch {
		case !ch.Replies.Files:
			return &Refusal{Code: "unprocessable", Reason: "files can't be sent through " + ch.Name + " yet: send the reply without them, or attach them to a private note"}
		case !ch.Replies.Allows(f.ContentType):
			return &Refusal{Code: "unprocessable", Reason: fmt.Sprintf("%s takes no %s files (%s): send the reply without it, or attach it to a private note", ch.Name, f.ContentType, f.Filename)}
		}
	}
	if ch.Replies.Check != nil {
		return ch.Replies.Check(d)
	}
	return nil
}

// Refusal is a channel's no to a reply before it is stored: Code names the rule for
// programs ("outside_window"), Reason tells the agent what to do.
type Refusal struct {
	Code   string
	Reason string
}

func (r *Refusal) Error() string { return r.Reason }

// Allows tells whether a reply may carry a file of this media type.
func (r Replies) Allows(contentType string) bool {
	if !r.Files {
		return false
	}
	if len(r.FileTypes) == 0 {
		return true
	}
	t, _, _ := strings.Cut(strings.ToLower(contentType), ";")
	t = strings.TrimSpace(t)
	for _, allowed := range r.FileTypes {
		if major, ok := strings.CutSuffix(allowed, "/*"); ok && strings.HasPrefix(t, major+"/") || allowed == t {
			return true
		}
	}
	return false
}

// Inbox is one configured inbox as its connector is built from it.
type Inbox struct {
	ID       int64
	Name     string
	Settings Settings
}

// Env is what Kibo lends a connector besides its inbox's settings.
type Env struct {
	// Report tells the inbox whether the channel works, and the error that says it
	// doesn't (Settings shows it; a failure that lasts raises an alert). It may be
	// called from several goroutines.
	Report func(connected bool, err error)
	Log    *slog.Logger
	// AllowPrivateHosts lets the hosts typed into settings be loopback, private or
	// link-local addresses (netguard): tests, and a mail server beside Kibo.
	AllowPrivateHosts bool
	// Mail is the store's record of a polled mailbox (e-mail's IMAP cursor).
	Mail MailState
}

// Checker is a connector that can test its settings: "Test connection".
type Checker interface {
	Check(ctx context.Context) error
}

// Registry is the channels one Kibo runs, by kind. Build it in main; the zero value
// and nil are empty.
type Registry struct {
	byKind map[string]*Channel
	kinds  []string
}

// NewRegistry registers the channels given.
func NewRegistry(channels ...Channel) *Registry {
	r := &Registry{}
	for _, ch := range channels {
		r.Register(ch)
	}
	return r
}

// Register adds a channel. A second channel of one kind is a wiring mistake: it
// panics, at start.
func (r *Registry) Register(ch Channel) {
	if ch.Kind == "" {
		panic("connectors: a channel without a kind")
	}
	if _, dup := r.byKind[ch.Kind]; dup {
		panic(fmt.Sprintf("connectors: channel %q registered twice", ch.Kind))
	}
	if r.byKind == nil {
		r.byKind = map[string]*Channel{}
	}
	r.byKind[ch.Kind] = &ch
	r.kinds = append(r.kinds, ch.Kind)
}

// Broadcasting are the kinds an incident's updates are sent through (Broadcast > 0).
func (r *Registry) Broadcasting() []string {
	var out []string
	if r == nil {
		return out
	}
	for _, k := range r.kinds {
		if r.byKind[k].Broadcast > 0 {
			out = append(out, k)
		}
	}
	return out
}

// Lookup is the channel of a kind.
func (r *Registry) Lookup(kind string) (*Channel, bool) {
	if r == nil {
		return nil, false
	}
	ch, ok := r.byKind[kind]
	return ch, ok
}

// Kinds are the registered kinds, in the order they were registered.
func (r *Registry) Kinds() []string {
	if r == nil {
		return nil
	}
	return slices.Clone(r.kinds)
}
