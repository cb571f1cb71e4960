package messenger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"kibo/connectors"
	"kibo/connectors/netguard"
)

const (
	// DefaultGraphBaseURL is Facebook's Graph API; tests point GraphBaseURL elsewhere.
	DefaultGraphBaseURL = "https://graph.facebook.com"
	// DefaultGraphVersion is the Graph API version Send and Check call.
	DefaultGraphVersion = "v19.0"

	// StandardWindow is how long after the customer's last message a page may answer
	// with messaging_type RESPONSE.
	StandardWindow = 24 * time.Hour
	// HumanAgentWindow is how long the HUMAN_AGENT tag stretches that, for pages that
	// have the Human Agent permission.
	HumanAgentWindow = 7 * 24 * time.Hour
	// HumanAgentTag is the message tag for a person answering late.
	HumanAgentTag = "HUMAN_AGENT"

	// MaxTextLength is the Send API's limit on a text message, in characters.
	MaxTextLength = 2000

	profileTTL  = 24 * time.Hour
	maxProfiles = 10000
	maxBody     = 1 << 20
)

// Config is one Messenger inbox's settings (docs/CHANNELS.md, "Facebook Messenger").
type Config struct {
	// InboxID is stamped on every message the webhook delivers.
	InboxID         int64
	PageID          string
	PageAccessToken string
	AppSecret       string
	VerifyToken     string
	// GraphBaseURL defaults to DefaultGraphBaseURL.
	GraphBaseURL string
	// GraphVersion defaults to DefaultGraphVersion.
	GraphVersion string
	// HTTPClient defaults to a client with a 30-second timeout that refuses loopback,
	// private and link-local addresses unless AllowPrivateHosts is set (netguard).
	HTTPClient *http.Client
	// AllowPrivateHosts lets GraphBaseURL be a loopback or private address (tests).
	AllowPrivateHosts bool
	// OnStatus, when set, hears whether the page looks connected and the last error
	// that says otherwise: a webhook whose signature does not match the app secret, a
	// rejected token, an unreachable Graph API. It is called only when the state changes,
	// possibly from several goroutines at once.
	OnStatus func(connected bool, lastErr error)
}

// Window is where a reply stands against Messenger's messaging window.
type Window int

const (
	// WindowOpen: the customer wrote within StandardWindow; reply freely.
	WindowOpen Window = iota
	// WindowHumanAgent: only a reply tagged HUMAN_AGENT may go out.
	WindowHumanAgent
	// WindowClosed: the customer must write first.
	WindowClosed
)

// ReplyWindow tells where a reply sent at now stands when the customer last wrote at
// lastInboundAt. The server uses it to warn the agent before sending; Send uses it to
// refuse without calling Facebook.
func ReplyWindow(lastInboundAt, now time.Time) Window {
	age := now.Sub(lastInboundAt)
	switch {
	case lastInboundAt.IsZero():
		return WindowClosed
	case age <= StandardWindow:
		return WindowOpen
	case age <= HumanAgentWindow:
		return WindowHumanAgent
	default:
		return WindowClosed
	}
}

// GraphError is an error body from the Graph API
// ({"error":{"message","type","code","error_subcode","fbtrace_id"}}) with the HTTP status
// it came with.
type GraphError struct {
	HTTPStatus int    `json:"-"`
	Message    string `json:"message"`
	Type       string `json:"type"`
	Code       int    `json:"code"`
	Subcode    int    `json:"error_subcode"`
	FBTraceID  string `json:"fbtrace_id"`
	Transient  bool   `json:"is_transient"`
}

func (e *GraphError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "graph api: HTTP %d", e.HTTPStatus)
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, " (code %d", e.Code)
		if e.Subcode != 0 {
			fmt.Fprintf(&b, ", subcode %d", e.Subcode)
		}
		if e.FBTraceID != "" {
			fmt.Fprintf(&b, ", fbtrace_id %s", e.FBTraceID)
		}
		b.WriteString(")")
	}
	return b.String()
}

// RateLimited tells a throttling refusal: HTTP 429, or the Graph codes for application,
// user, page and Messenger rate limits.
func (e *GraphError) RateLimited() bool {
	switch e.Code {
	case 4, 17, 32, 613, 80006:
		return true
	}
	return e.HTTPStatus == http.StatusTooManyRequests
}

// Temporary tells an error Facebook expects to go away by itself.
func (e *GraphError) Temporary() bool {
	return e.Code == 1 || e.Code == 2 || e.Transient || e.HTTPStatus >= 500
}

// PageProblem tells an error about the page's token or permissions rather than about one
// recipient: the inbox needs an admin, not a retry.
func (e *GraphError) PageProblem() bool {
	switch e.Code {
	case 190, 102, 104, 200, 230:
		return true
	case 10:
		// Code 10 with the window subcode is about one conversation.
		return e.Subcode != 2018278
	}
	return false
}

// errUnavailable marks errors that say Facebook could not be reached or answered with an
// outage; a retry may succeed.
var errUnavailable = errors.New("Facebook's Graph API is unavailable")

// Client calls the Graph API for one page. It is safe for concurrent use.
type Client struct {
	base    string
	version string
	token   string
	pageID  string
	http    *http.Client
	now     func() time.Time

	mu       sync.Mutex
	profiles map[string]profileEntry
}

type profileEntry struct {
	name    string
	expires time.Time
}

// NewClient checks cfg and returns a client for its page.
func NewClient(cfg Config) (*Client, error) {
	if cfg.PageAccessToken == "" {
		return nil, errors.New("messenger: the page access token is not set")
	}
	base := cfg.GraphBaseURL
	if base == "" {
		base = DefaultGraphBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("messenger: graph_base_url %q is not an http(s) URL", base)
	}
	version := cfg.GraphVersion
	if version == "" {
		version = DefaultGraphVersion
	}
	if !strings.HasPrefix(version, "v") {
		version = "v" + version
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = netguard.Policy{AllowPrivate: cfg.AllowPrivateHosts}.Client(30 * time.Second)
	}
	return &Client{
		base:     strings.TrimRight(base, "/"),
		version:  version,
		token:    cfg.PageAccessToken,
		pageID:   cfg.PageID,
		http:     hc,
		now:      time.Now,
		profiles: map[string]profileEntry{},
	}, nil
}

// Profile returns the customer's name ("first last") from the Graph API, cached for a
// day. Callers treat an error as "no name yet": it never holds a message back.
func (c *Client) Profile(ctx context.Context, psid string) (name string, err error) {
	if psid == "" {
		return "", errors.New("messenger: profile of an empty PSID")
	}
	now := c.now()
	c.mu.Lock()
	p, ok := c.profiles[psid]
	c.mu.Unlock()
	if ok && now.Before(p.expires) {
		return p.name, nil
	}
	var prof struct {
		FirstName  string `json:"first_name"`
		LastName   string `json:"last_name"`
		ProfilePic string `json:"profile_pic"`
	}
	q := url.Values{"fields": {"first_name,last_name,profile_pic"}}
	if err := c.call(ctx, http.MethodGet, "/"+url.PathEscape(psid), q, nil, &prof, "the profile request"); err != nil {
		return "", err
	}
	name = strings.TrimSpace(prof.FirstName + " " + prof.LastName)
	c.mu.Lock()
	if len(c.profiles) >= maxProfiles {
		c.pruneProfiles(now)
	}
	c.profiles[psid] = profileEntry{name: name, expires: now.Add(profileTTL)}
	c.mu.Unlock()
	return name, nil
}

// pruneProfiles drops expired names, and half the cache if that is not enough; a dropped
// name costs one more Graph call. c.mu is held.
func (c *Client) pruneProfiles(now time.Time) {
	for k, p := range c.profiles {
		if !now.Before(p.expires) {
			delete(c.profiles, k)
		}
	}
	for k := range c.profiles {
		if len(c.profiles) < maxProfiles/2 {
			break
		}
		delete(c.profiles, k)
	}
}

type sendRequest struct {
	Recipient     idField `json:"recipient"`
	MessagingType string  `json:"messaging_type"`
	Tag           string  `json:"tag,omitempty"`
	Message       struct {
		Text string `json:"text"`
	} `json:"message"`
}

type sendResponse struct {
	RecipientID string `json:"recipient_id"`
	MessageID   string `json:"message_id"`
}

// Send delivers one text reply and returns its mid. Inside the 24-hour window it goes as
// a RESPONSE; outside, only with m.Tag == "HUMAN_AGENT" and within 7 days, as a tagged
// message. Otherwise, and for what Messenger cannot take (no text, files, too long), it
// returns a *connectors.PermanentError without calling Facebook. Rate limits come back as
// *connectors.RetryAfterError, outages as plain errors, refusals as permanent errors
// whose reason quotes Facebook.
func (c *Client) Send(ctx context.Context, m connectors.Outbound) (mid string, err error) {
	psid := m.Recipient.ExternalID
	if psid == "" {
		return "", connectors.Permanent("this contact has no Messenger id to reply to", nil)
	}
	if len(m.Attachments) > 0 {
		return "", connectors.Permanent("Kibo can't send files to Messenger yet: send the text alone, or share a link", nil)
	}
	if strings.TrimSpace(m.Text) == "" {
		return "", connectors.Permanent("a Messenger reply needs text", nil)
	}
	if n := utf8.RuneCountInString(m.Text); n > MaxTextLength {
		return "", connectors.Permanent(fmt.Sprintf("Messenger takes at most %d characters in one message; this reply has %d", MaxTextLength, n), nil)
	}
	req := sendRequest{Recipient: idField{ID: psid}, MessagingType: "RESPONSE"}
	req.Message.Text = m.Text
	switch ReplyWindow(m.LastInboundAt, c.now()) {
	case WindowOpen:
	case WindowHumanAgent:
		if m.Tag != HumanAgentTag {
			return "", connectors.Permanent("outside Messenger's 24-hour window: the customer must write first", nil)
		}
		req.MessagingType, req.Tag = "MESSAGE_TAG", HumanAgentTag
	default:
		if m.Tag == HumanAgentTag {
			return "", connectors.Permanent("outside Messenger's 7-day window for human agents: the customer must write first", nil)
		}
		return "", connectors.Permanent("outside Messenger's 24-hour window: the customer must write first", nil)
	}
	var resp sendResponse
	if err := c.call(ctx, http.MethodPost, "/"+c.version+"/me/messages", url.Values{}, req, &resp, "the message"); err != nil {
		return "", err
	}
	if resp.MessageID == "" {
		// Facebook took the message; a retry could send it twice.
		return "", connectors.Permanent("Facebook accepted the message but returned no message id", nil)
	}
	return resp.MessageID, nil
}

// Check asks the Graph API who the token belongs to, for the settings page's "Test
// connection", and says in words what is wrong.
func (c *Client) Check(ctx context.Context) error {
	var me struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if err := c.call(ctx, http.MethodGet, "/"+c.version+"/me", url.Values{}, nil, &me, "the connection test"); err != nil {
		return err
	}
	if c.pageID != "" && me.ID != c.pageID {
		return connectors.Permanent(fmt.Sprintf("the access token belongs to %q (id %s), not to page %s", me.Name, me.ID, c.pageID), nil)
	}
	return nil
}

// call sends one Graph API request with the page token and decodes a 2xx answer into
// out; what names the request in error sentences ("the message").
func (c *Client) call(ctx context.Context, method, path string, q url.Values, body, out any, what string) error {
	q.Set("access_token", c.token)
	var rdr io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("messenger: encoding %s: %w", what, err)
		}
		rdr = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path+"?"+q.Encode(), rdr)
	if err != nil {
		return fmt.Errorf("messenger: building %s: %w", what, redact(err))
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("messenger: can't reach Facebook for %s: %w (%w)", what, errUnavailable, redact(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("messenger: reading Facebook's answer to %s: %w (%w)", what, errUnavailable, redact(err))
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			if method == http.MethodPost {
				return connectors.Permanent(fmt.Sprintf("Facebook accepted %s but its answer could not be read", what), err)
			}
			return fmt.Errorf("messenger: Facebook's answer to %s is not JSON: %w", what, err)
		}
		return nil
	}
	return classify(resp, data, what, c.now())
}

// classify turns a non-2xx Graph answer into a retryable or a permanent error.
func classify(resp *http.Response, data []byte, what string, now time.Time) error {
	var wrapper struct {
		Error *GraphError `json:"error"`
	}
	ge := &GraphError{}
	if json.Unmarshal(data, &wrapper) == nil && wrapper.Error != nil {
		ge = wrapper.Error
	}
	ge.HTTPStatus = resp.StatusCode
	if ge.Message == "" {
		ge.Message = http.StatusText(resp.StatusCode)
	}
	switch {
	case ge.RateLimited():
		return &connectors.RetryAfterError{After: retryAfter(resp.Header, now), Err: ge}
	case ge.Temporary():
		return fmt.Errorf("messenger: Facebook could not take %s for now, will retry: %w (%w)", what, errUnavailable, ge)
	}
	return connectors.Permanent(describe(ge, what), ge)
}

// describe says in words why Facebook refused, for the agent.
func describe(ge *GraphError, what string) string {
	said := "(Facebook said: " + ge.Message + ")"
	switch {
	case ge.Code == 551 || ge.Subcode == 1545041:
		return "this person isn't available on Messenger right now: they may have blocked the page or left Messenger " + said
	case ge.Code == 10 && ge.Subcode == 2018278:
		return "Facebook says the messaging window is closed: the customer must write first " + said
	case ge.Code == 100 && ge.Subcode == 2018001:
		return "Facebook can't find this person: their account may be gone " + said
	case ge.Code == 190 || ge.Code == 102:
		return "the page access token is invalid or has expired: reconnect the page in the inbox settings " + said
	case ge.PageProblem():
		return "the page isn't allowed to send this: a Messenger permission is missing or not approved " + said
	case ge.Code == 100:
		return fmt.Sprintf("Facebook refused %s as invalid %s", what, said)
	}
	return fmt.Sprintf("Facebook refused %s %s", what, said)
}

// retryAfter reads how long Facebook wants us to wait: Retry-After, else the
// estimated_time_to_regain_access (minutes) of X-Business-Use-Case-Usage, else a minute.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := h.Get("Retry-After"); v != "" {
		if secs, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && secs > 0 {
			return time.Duration(secs) * time.Second
		}
		if t, err := http.ParseTime(v); err == nil && t.After(now) {
			return t.Sub(now)
		}
	}
	if v := h.Get("X-Business-Use-Case-Usage"); v != "" {
		var usage map[string][]struct {
			Minutes int `json:"estimated_time_to_regain_access"`
		}
		if json.Unmarshal([]byte(v), &usage) == nil {
			longest := 0
			for _, list := range usage {
				for _, u := range list {
					longest = max(longest, u.Minutes)
				}
			}
			if longest > 0 {
				return time.Duration(longest) * time.Minute
			}
		}
	}
	return time.Minute
}

// redact strips the query (which holds the page token) from the URL a net/http error
// quotes, so the token never reaches a log or the agent's screen.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if i := strings.IndexByte(ue.URL, '?'); i >= 0 {
			ue.URL = ue.URL[:i]
		}
	}
	return err
}
