// Package connectors holds what every channel shares: the one interface a channel
// implements and the shapes of the messages that cross it.
//
// A connector never writes SQL and never imports the store or the HTTP server. It hands
// each inbound message to a Sink (which stores contact, conversation and message in one
// transaction and publishes the event) and sends one outbound message when the outbox
// worker asks it to. Each channel lives in its own sub-package: chat, email, messenger, x.
package connectors

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Connector is one configured inbox of one channel kind.
type Connector interface {
	// Kind is the channel: "chat", "email", "messenger" or "x".
	Kind() string
	// Run receives until ctx ends, handing every inbound message to sink. A connector
	// that receives through webhooks may return nil at once (or block on ctx) and
	// deliver from its webhook handler instead.
	Run(ctx context.Context, sink Sink) error
	// Send delivers one outbound message and returns the channel's id for it. An error
	// that a retry cannot help is wrapped in a *PermanentError.
	Send(ctx context.Context, m Outbound) (externalID string, err error)
}

// Sink takes inbound messages. Deliver returns only after the message is committed, so a
// connector may acknowledge it to the platform (IMAP UID, webhook 200, widget ack) then.
// A re-delivered message (same ExternalID or ClientID) returns the stored one with
// Duplicate set, and stores nothing new.
type Sink interface {
	Deliver(ctx context.Context, in Inbound) (Delivered, error)
}

// Inbound is one message from a customer (or, with Echo, one the company sent from the
// platform's own UI, such as a Messenger page admin's reply).
type Inbound struct {
	InboxID int64
	// Identity of the sender on this channel: e-mail address, page-scoped id, X user
	// id, or the widget visitor's id. Scoped to the inbox where the platform scopes it.
	Identity Identity
	// ExternalID is the channel's id for the message (Message-ID, mid, event id). It
	// makes re-delivery a no-op. Empty for chat, which uses ClientID.
	ExternalID string
	// ClientID is the widget's id for a chat message, unique per conversation.
	ClientID string
	// ConversationID, when set, names the conversation the message belongs to (chat
	// visitors and threaded e-mail know it); otherwise the sink finds or opens one.
	ConversationID int64
	// ThreadRefs are external ids this message answers (In-Reply-To, References), most
	// relevant first; the sink matches them against stored and sent messages.
	ThreadRefs []string
	// SubjectToken is a ticket number found in the subject ("[#1042]"), or 0.
	SubjectToken int64
	// NewThread forces a new conversation (forwarded mail).
	NewThread bool
	Subject   string
	Text      string
	// HTML is already sanitised by the connector, or empty.
	HTML        string
	Attachments []Attachment
	// Echo marks a message the company sent from the platform's own UI: stored as
	// outbound, from the page, not from the contact.
	Echo bool
	// Auto marks an auto-reply, bounce or list mail: stored, never answered automatically.
	Auto bool
	// Raw is the message as it arrived (e-mail source, webhook JSON), kept so a parser
	// bug never loses anything.
	Raw      []byte
	SentAt   time.Time
	Metadata map[string]string
	// MailCursor, when set, is the mailbox position this message completes: the sink
	// commits it in the same transaction as the message (also when the message is a
	// duplicate), so a receiver that resumes from the stored cursor never skips a
	// message and never passes an uncommitted one (e-mail's IMAP sync).
	MailCursor *MailCursor
}

// MailState is the store's record of a polled mailbox: where its receiver stands, and
// the quarantine for what it can't process.
type MailState interface {
	// Cursor is the position committed for the inbox: zeros before the first message.
	Cursor(ctx context.Context, inboxID int64) (MailCursor, error)
	// Quarantine stores a message that cannot be processed (unparseable, no sender,
	// refused by the store for good) with its raw source and the reason, and moves the
	// cursor to at, in one transaction, so that one bad message never blocks the ones
	// after it; the admins are told.
	Quarantine(ctx context.Context, inboxID int64, at MailCursor, raw []byte, reason string) error
}

// MailCursor is a position in an IMAP mailbox: its UIDVALIDITY and the highest UID
// whose message (and every one before it) is stored.
type MailCursor struct {
	UIDValidity uint32
	UID         uint32
}

// Identity is how a channel knows a person.
type Identity struct {
	// Kind: "email", "messenger", "x", "visitor" or "chat_user" (a verified widget user).
	Kind string
	// Scope is where the id is unique: "" for global ids such as e-mail addresses,
	// the inbox or page id for page-scoped ids.
	Scope      string
	ExternalID string
	Name       string
	Email      string
	Handle     string
	// EmailVerified says Email was signed by the sender's proof (the email claim of a
	// widget JWT). Only then may the address find or join a contact; an unverified one
	// is what the sender typed or a page passed beside a proof that doesn't sign it,
	// kept and shown to agents as unverified. (An e-mail identity's address is its
	// ExternalID, which the channel itself vouches for.)
	EmailVerified bool
	// NameUnverified marks a Name the sender's proof doesn't sign (a widget identity's
	// name beside a hash of its id), so agents see it as such. Other names are the
	// channel's word.
	NameUnverified bool
}

// ErrConversationGone is what a sink answers for a message to a conversation that was
// deleted or erased: the message can't go there, and the channel should let the sender
// start afresh (the widget reconnects and opens a new conversation).
var ErrConversationGone = errors.New("the conversation was deleted")

// Attachment is a file that came with a message. Data is nil when the file was over the
// size limit (TooLarge) or only a link (URL).
type Attachment struct {
	Filename    string
	ContentType string
	Size        int64
	Data        []byte
	URL         string
	ContentID   string
	TooLarge    bool
}

// Delivered says what the sink stored.
type Delivered struct {
	MessageID       int64
	ConversationID  int64
	ContactID       int64
	CreatedAt       time.Time
	Duplicate       bool
	NewConversation bool
}

// Outbound is one message for the channel to send.
type Outbound struct {
	MessageID      int64
	ConversationID int64
	InboxID        int64
	// Recipient is the contact's identity on this channel.
	Recipient Identity
	// TicketNumber is the conversation's number, for the "[#1042]" subject token.
	TicketNumber int64
	Subject      string
	Text         string
	HTML         string
	// InReplyTo and References thread an e-mail reply; MessageIDHeader is the id the
	// reply goes out with (fixed before the first attempt, so a retry keeps it).
	InReplyTo       string
	References      []string
	MessageIDHeader string
	Attachments     []Attachment
	AuthorName      string
	// LastInboundAt is when the customer last wrote, for platform windows (Messenger's
	// 24 hours).
	LastInboundAt time.Time
	// Tag asks for a platform message tag where the window is closed (HUMAN_AGENT).
	Tag string
}

// PermanentError is a refusal that a retry cannot change (SMTP 5xx, Graph API error
// for a blocked user). The outbox stops retrying and shows Reason to the agent.
type PermanentError struct {
	Reason string
	Err    error
}

func (e *PermanentError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Reason, e.Err)
	}
	return e.Reason
}

func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a refusal that must not be retried.
func Permanent(reason string, err error) error { return &PermanentError{Reason: reason, Err: err} }

// IsPermanent tells whether err says a retry cannot help.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// RetryAfterError asks the outbox to wait at least After before the next attempt
// (a platform's rate limit).
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("retry after %s: %v", e.After, e.Err)
}

func (e *RetryAfterError) Unwrap() error { return e.Err }
