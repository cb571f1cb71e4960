package x

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/dghubble/go-twitter/twitter"

	"kibo/connectors"
)

// Config is one X inbox's settings (docs/CHANNELS.md, "X").
type Config struct {
	// InboxID is stamped on every message Run delivers.
	InboxID int64
	// UserID is the account's numeric id. When empty, Run learns it from
	// account/verify_credentials.
	UserID         string
	ConsumerKey    string
	ConsumerSecret string
	AccessToken    string
	AccessSecret   string
	// APIBaseURL defaults to DefaultAPIBaseURL.
	APIBaseURL string
	// AllowPrivateHosts lets APIBaseURL be a loopback or private address (tests);
	// without it such connections are refused (netguard).
	AllowPrivateHosts bool
	// PollInterval defaults to DefaultPollInterval.
	PollInterval time.Duration
	// OnStatus, when set, hears whether the account looks connected and the last error:
	// a poll that failed (bad credentials, X down), a rate-limit wait, a webhook whose
	// signature does not match. It is called only when the state changes, possibly from
	// several goroutines at once.
	OnStatus func(connected bool, lastErr error)
}

// ErrBadSignature is what OnStatus hears when a webhook's signature does not match the
// consumer secret (or a forged request arrived; the next good webhook clears it).
var ErrBadSignature = errors.New("x: a webhook's x-twitter-webhooks-signature did not match the consumer secret")

// Connector is one X inbox: Run polls DM events, Send replies, and the server's webhook
// handler uses CRC, VerifyWebhook and ParseWebhook.
type Connector struct {
	cfg       Config
	transport http.RoundTripper

	// now and sleep are the clock; tests replace them.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error

	mu       sync.Mutex
	ownID    string
	users    map[string]userInfo
	seen     map[string]struct{}
	seenFIFO []string
	status   *connectors.Status
}

var _ connectors.Connector = (*Connector)(nil)

type userInfo struct {
	name, handle string
	expires      time.Time
}

// New checks cfg and returns the connector for its account.
func New(cfg Config) (*Connector, error) {
	if cfg.ConsumerKey == "" || cfg.ConsumerSecret == "" || cfg.AccessToken == "" || cfg.AccessSecret == "" {
		return nil, errors.New("x: consumer key and secret, access token and secret are all needed")
	}
	if cfg.APIBaseURL == "" {
		cfg.APIBaseURL = DefaultAPIBaseURL
	}
	base, err := url.Parse(strings.TrimRight(cfg.APIBaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("x: api_base_url %q is not an http(s) URL", cfg.APIBaseURL)
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	return &Connector{
		cfg:       cfg,
		transport: newTransport(cfg, base),
		now:       time.Now,
		sleep:     sleepCtx,
		ownID:     cfg.UserID,
		users:     map[string]userInfo{},
		seen:      map[string]struct{}{},
		status:    connectors.NewStatus(cfg.OnStatus),
	}, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Kind is "x".
func (c *Connector) Kind() string { return Kind }

// ErrBadCRCToken is CRC's answer to a token that is not one of X's (see ValidCRCToken).
var ErrBadCRCToken = errors.New("x: crc_token must be a short string of letters, digits and + / = - _")

// CRC answers X's challenge-response check with this inbox's consumer secret. It
// refuses any token X would not send, so that the answer can never serve as the
// signature of a webhook body.
func (c *Connector) CRC(crcToken string) (string, error) {
	if !ValidCRCToken(crcToken) {
		return "", ErrBadCRCToken
	}
	return CRCResponse(c.cfg.ConsumerSecret, crcToken), nil
}

// VerifyWebhook checks a webhook's signature header against the consumer secret and
// reports the outcome through OnStatus.
func (c *Connector) VerifyWebhook(header string, body []byte) bool {
	if !VerifySignature(c.cfg.ConsumerSecret, header, body) {
		c.report(false, ErrBadSignature)
		return false
	}
	c.report(true, nil)
	return true
}

// ParseWebhook parses an Account Activity body for this inbox's account: its
// for_user_id must be the account's id, so an inbox whose id is not known yet (no
// user_id in the settings, no poll answered) takes no webhook.
func (c *Connector) ParseWebhook(body []byte) ([]connectors.Inbound, error) {
	c.mu.Lock()
	own := c.ownID
	c.mu.Unlock()
	if own == "" {
		return nil, malformed("this inbox's X user id is not known yet: set user_id in its settings", nil)
	}
	return ParseWebhook(c.cfg.InboxID, own, body)
}

// Send delivers one text reply with direct_messages/events/new and returns the new
// event's id. What X cannot take (no text, files, too long) is refused permanently
// without calling X. Rate limits come back as *connectors.RetryAfterError with the
// reset time, outages as plain errors, refusals as permanent errors quoting X.
func (c *Connector) Send(ctx context.Context, m connectors.Outbound) (externalID string, err error) {
	to := m.Recipient.ExternalID
	switch {
	case to == "":
		return "", connectors.Permanent("this contact has no X user id to reply to", nil)
	case len(m.Attachments) > 0:
		return "", connectors.Permanent("Kibo can't send files to X yet: send the text alone, or share a link", nil)
	case strings.TrimSpace(m.Text) == "":
		return "", connectors.Permanent("an X direct message needs text", nil)
	case utf8.RuneCountInString(m.Text) > MaxTextLength:
		return "", connectors.Permanent(fmt.Sprintf("X takes at most %d characters in one direct message", MaxTextLength), nil)
	}
	params := &twitter.DirectMessageEventsNewParams{Event: &twitter.DirectMessageEvent{
		Type: "message_create",
		Message: &twitter.DirectMessageEventMessage{
			Target: &twitter.DirectMessageTarget{RecipientID: to},
			Data:   &twitter.DirectMessageData{Text: m.Text},
		},
	}}
	var ev *twitter.DirectMessageEvent
	resp, err := c.call(ctx, func(api *twitter.Client) (resp *http.Response, err error) {
		ev, resp, err = api.DirectMessages.EventsNew(params)
		return resp, err
	})
	if s := statusOf(resp); s >= 200 && s < 300 {
		if err != nil || ev == nil || ev.ID == "" {
			// X took the message; a retry could send it twice.
			return "", connectors.Permanent("X accepted the message but returned no event id", err)
		}
		c.report(true, nil)
		return ev.ID, nil
	}
	err = c.classify("the message", resp, err)
	if ctx.Err() == nil {
		// A send cut short by shutdown says nothing about the account.
		c.reportAPI(err)
	}
	return "", err
}

// Check is the settings page's "Test connection": account/verify_credentials, and that
// the credentials belong to the configured user.
func (c *Connector) Check(ctx context.Context) error {
	user, err := c.verifyCredentials(ctx)
	if err == nil && c.cfg.UserID != "" && user.IDStr != c.cfg.UserID {
		err = connectors.Permanent(fmt.Sprintf("the credentials belong to @%s (id %s), not to user id %s", user.ScreenName, user.IDStr, c.cfg.UserID), nil)
	}
	if connectors.IsPermanent(err) {
		c.report(false, err)
	} else {
		c.reportAPI(err)
	}
	return err
}

func (c *Connector) verifyCredentials(ctx context.Context) (*twitter.User, error) {
	var user *twitter.User
	resp, err := c.call(ctx, func(api *twitter.Client) (resp *http.Response, err error) {
		user, resp, err = api.Accounts.VerifyCredentials(&twitter.AccountVerifyParams{
			IncludeEntities: twitter.Bool(false),
			SkipStatus:      twitter.Bool(true),
		})
		return resp, err
	})
	if s := statusOf(resp); s < 200 || s >= 300 || err != nil {
		return nil, c.classify("the connection test", resp, err)
	}
	if user == nil || user.IDStr == "" {
		return nil, errors.New("x: verify_credentials answered without a user id")
	}
	return user, nil
}

// ownUserID is the account's user id, learned once when the settings lack it.
func (c *Connector) ownUserID(ctx context.Context) (string, error) {
	c.mu.Lock()
	own := c.ownID
	c.mu.Unlock()
	if own != "" {
		return own, nil
	}
	user, err := c.verifyCredentials(ctx)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.ownID = user.IDStr
	c.mu.Unlock()
	return user.IDStr, nil
}

// userTTL is how long a looked-up name is trusted; people rename themselves rarely.
const userTTL = 24 * time.Hour

// lookupUsers fetches names and handles of ids not in the cache, 100 per users/lookup
// call (the endpoint's limit). Failures leave them unnamed; the message goes anyway.
func (c *Connector) lookupUsers(ctx context.Context, ids []string) {
	now := c.now()
	var missing []int64
	c.mu.Lock()
	for _, id := range ids {
		if u, ok := c.users[id]; ok && now.Before(u.expires) {
			continue
		}
		if n, err := strconv.ParseInt(id, 10, 64); err == nil && n > 0 && !containsInt(missing, n) {
			missing = append(missing, n)
		}
	}
	c.mu.Unlock()
	for len(missing) > 0 {
		batch := missing[:min(100, len(missing))]
		missing = missing[len(batch):]
		var users []twitter.User
		resp, err := c.call(ctx, func(api *twitter.Client) (resp *http.Response, err error) {
			users, resp, err = api.Users.Lookup(&twitter.UserLookupParams{UserID: batch, IncludeEntities: twitter.Bool(false)})
			return resp, err
		})
		if err != nil || statusOf(resp) != http.StatusOK {
			return
		}
		c.mu.Lock()
		if len(c.users) > maxUsers {
			c.users = map[string]userInfo{}
		}
		for _, u := range users {
			c.users[u.IDStr] = userInfo{name: u.Name, handle: u.ScreenName, expires: now.Add(userTTL)}
		}
		c.mu.Unlock()
	}
}

const maxUsers = 10000

func containsInt(list []int64, n int64) bool {
	for _, v := range list {
		if v == n {
			return true
		}
	}
	return false
}

func (c *Connector) user(id string) (name, handle string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	u := c.users[id]
	return u.name, u.handle
}

// reportAPI tells OnStatus what an API call says about the account's health. Refusals
// about one recipient say nothing about it.
func (c *Connector) reportAPI(err error) {
	c.status.Call(err, errors.Is(err, errUnavailable) || errors.Is(err, errAccount))
}

func (c *Connector) report(up bool, err error) { c.status.Report(up, err) }
