package x

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dghubble/go-twitter/twitter"
	"github.com/dghubble/oauth1"

	"kibo/connectors"
	"kibo/connectors/netguard"
)

const (
	// DefaultAPIBaseURL is where go-twitter sends requests; APIBaseURL overrides it.
	DefaultAPIBaseURL = "https://api.twitter.com"
	// DefaultPollInterval is how often Run lists DM events. The list endpoint allows 15
	// calls per 15 minutes; a minute leaves room for paging and for Check.
	DefaultPollInterval = 60 * time.Second

	// MaxTextLength is X's limit on a direct message, in characters.
	MaxTextLength = 10000

	requestTimeout = 30 * time.Second
	// defaultRateLimitWait is X's rate-limit window, used when a 429 names no reset.
	defaultRateLimitWait = 15 * time.Minute
)

// newTransport signs requests with the account's OAuth 1.0a credentials and, when base
// is not X's own API, sends them there instead. The rewrite happens before signing, so
// the signature covers the URL actually requested.
func newTransport(cfg Config, base *url.URL) http.RoundTripper {
	// the signed requests go out through a transport that refuses private addresses
	// (netguard) unless the installation allows them
	guarded := context.WithValue(context.Background(), oauth1.HTTPClient,
		&http.Client{Transport: netguard.Policy{AllowPrivate: cfg.AllowPrivateHosts}.Transport()})
	oauthClient := oauth1.NewConfig(cfg.ConsumerKey, cfg.ConsumerSecret).
		Client(guarded, oauth1.NewToken(cfg.AccessToken, cfg.AccessSecret))
	if base.String() == DefaultAPIBaseURL {
		return oauthClient.Transport
	}
	return &rewriteTransport{next: oauthClient.Transport, base: base}
}

// rewriteTransport points go-twitter's fixed https://api.twitter.com/1.1/... at another
// scheme and host (and path prefix).
type rewriteTransport struct {
	next http.RoundTripper
	base *url.URL
}

func (t *rewriteTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.URL.Scheme = t.base.Scheme
	r.URL.Host = t.base.Host
	r.URL.Path = strings.TrimRight(t.base.Path, "/") + r.URL.Path
	r.URL.RawPath = ""
	r.Host = ""
	return t.next.RoundTrip(r)
}

// ctxTransport gives go-twitter's requests, which it builds without a context, the
// caller's, so cancelling Run or an outbox send stops a request in flight.
type ctxTransport struct {
	ctx  context.Context
	next http.RoundTripper
}

func (t ctxTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.next.RoundTrip(req.WithContext(t.ctx))
}

// call runs f with a go-twitter client bound to ctx (and a request timeout).
func (c *Connector) call(ctx context.Context, f func(api *twitter.Client) (*http.Response, error)) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	// go-twitter reads and closes the body before returning, so cancel may run after.
	return f(twitter.NewClient(&http.Client{Transport: ctxTransport{ctx: ctx, next: c.transport}}))
}

// errUnavailable marks errors that say X could not be reached or answered with an outage;
// a retry may succeed.
var errUnavailable = errors.New("X's API is unavailable")

// errAccount marks refusals about the account's credentials or permissions.
var errAccount = errors.New("the X account needs attention")

// rateInfo is what the x-rate-limit-* headers of one answer said.
type rateInfo struct {
	known     bool
	remaining int
	reset     time.Time
}

func readRate(resp *http.Response) rateInfo {
	if resp == nil {
		return rateInfo{}
	}
	rem, err1 := strconv.Atoi(resp.Header.Get("x-rate-limit-remaining"))
	reset, err2 := strconv.ParseInt(resp.Header.Get("x-rate-limit-reset"), 10, 64)
	if err1 != nil || err2 != nil {
		return rateInfo{}
	}
	return rateInfo{known: true, remaining: rem, reset: time.Unix(reset, 0)}
}

// untilReset is how long to wait for X's rate-limit window to reopen: until the reset
// time (plus a second, as it is whole seconds), or a whole window when X named none.
func (c *Connector) untilReset(resp *http.Response) time.Duration {
	rate := readRate(resp)
	if !rate.known {
		return defaultRateLimitWait
	}
	return max(rate.reset.Sub(c.now())+time.Second, time.Second)
}

func statusOf(resp *http.Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}

func firstAPIError(err error) (code int, message string) {
	var apiErr twitter.APIError
	if errors.As(err, &apiErr) && !apiErr.Empty() {
		return apiErr.Errors[0].Code, apiErr.Errors[0].Message
	}
	return 0, ""
}

// classify turns a failed call into a retryable or a permanent error: rate limits become
// *connectors.RetryAfterError, outages and network errors plain errors, everything else
// a *connectors.PermanentError saying in words what X refused. what names the request in
// those words ("the message").
func (c *Connector) classify(what string, resp *http.Response, err error) error {
	status := statusOf(resp)
	if err == nil {
		err = fmt.Errorf("x: HTTP %d", status)
	}
	code, msg := firstAPIError(err)
	switch {
	case resp == nil:
		return fmt.Errorf("x: can't reach X for %s: %w (%w)", what, errUnavailable, err)
	case status == http.StatusTooManyRequests || code == 88:
		return &connectors.RetryAfterError{After: c.untilReset(resp), Err: err}
	case status >= 500 || code == 130 || code == 131:
		return fmt.Errorf("x: X could not take %s for now (HTTP %d), will retry: %w (%w)", what, status, errUnavailable, err)
	}
	if accountProblem(code, status) {
		err = fmt.Errorf("%w: %w", errAccount, err)
	}
	return connectors.Permanent(describe(code, msg, status, what), err)
}

// describe says in words why X refused, for the agent.
func describe(code int, msg string, status int, what string) string {
	said := fmt.Sprintf("(HTTP %d)", status)
	if msg != "" {
		said = fmt.Sprintf("(X said: %s, code %d)", msg, code)
	}
	switch {
	case code == 349:
		return "X won't deliver this: the person doesn't accept direct messages from this account " + said
	case code == 150:
		return "X won't deliver this: the person doesn't follow this account and only takes messages from people they follow " + said
	case code == 151:
		return "X refused to send the message " + said
	case code == 50 || code == 63 || code == 108:
		return "X can't find this person: their account may be gone or suspended " + said
	case code == 354:
		return "the message is longer than X allows " + said
	case code == 226:
		return "X took this message for automated spam; try again later with different wording " + said
	case code == 326:
		return "X has locked the account: log in to X to unlock it " + said
	case code == 64:
		return "X has suspended the account " + said
	case accountProblem(code, status):
		return "X refused the account's credentials or permissions: reconnect the account in the inbox settings " + said
	}
	return fmt.Sprintf("X refused %s %s", what, said)
}

// accountProblem tells an error about the account's credentials or app permissions rather
// than about one recipient: the inbox needs an admin, not a retry.
func accountProblem(code, status int) bool {
	switch code {
	case 32, 64, 89, 93, 135, 215, 220, 261, 326:
		return true
	}
	return status == http.StatusUnauthorized
}
