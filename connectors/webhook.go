package connectors

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Webhook is a connector the platform calls over HTTP, at /webhooks/{kind}/{inbox id}
// (its Channel says Webhook). It knows nothing of the HTTP server: it takes the query,
// the headers and the raw body. The server stores a verified body before Deliver, so a
// crash in between loses nothing: the body is parsed and delivered again at start.
type Webhook interface {
	// Handshake answers the platform's verification call (GET). An error refuses it:
	// with 400 for a *MalformedError (a call the platform never makes), else 403.
	Handshake(query url.Values) (WebhookAnswer, error)
	// Verify checks a call's signature over its raw body (POST); header reads a request
	// header. An error is answered 403, and the inbox hears of it.
	Verify(header func(name string) string, body []byte) error
	// Parse reads a verified body. An error (a *MalformedError) is answered 400, and
	// nothing is stored.
	Parse(body []byte) (WebhookEvents, error)
	// Deliver hands the messages to the sink in the platform's order, stopping at the
	// first error: the stored body is then kept for the next start.
	Deliver(ctx context.Context, sink Sink, ev WebhookEvents) error
}

// WebhookAnswer is the body of a 200.
type WebhookAnswer struct {
	ContentType string // "text/plain; charset=utf-8", "application/json"
	Body        []byte
}

// WebhookEvents is what one call carried.
type WebhookEvents struct {
	Messages []Inbound
	// Receipts go to the agents' open pages as they come; they are not stored.
	Receipts []Receipt
	// Ack answers the call (Messenger's "EVENT_RECEIVED"); empty, a 200 without a body.
	Ack WebhookAnswer
}

// Receipt says the customer's app received ("delivery") or read ("read") messages the
// company sent: the ones named (ExternalIDs), or all up to Watermark.
type Receipt struct {
	Kind        string
	ExternalIDs []string
	Watermark   time.Time
}

// ErrMalformed is matched (errors.Is) by every *MalformedError.
var ErrMalformed = errors.New("malformed")

// MalformedError says a platform's call is not one the channel can take: a body that
// is not JSON, an event of another kind or for another account, a message without the
// ids Kibo needs, a handshake without its token. The webhook answers 400 and stores
// nothing.
type MalformedError struct {
	// What was malformed, for the message: "Messenger webhook", "X webhook".
	What   string
	Reason string
	Err    error
}

func (e *MalformedError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("malformed %s: %s: %v", e.What, e.Reason, e.Err)
	}
	return fmt.Sprintf("malformed %s: %s", e.What, e.Reason)
}

func (e *MalformedError) Unwrap() error { return e.Err }

// Is lets errors.Is(err, ErrMalformed) match.
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }
