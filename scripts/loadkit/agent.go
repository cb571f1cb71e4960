package loadkit

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Agent is an agent's real-time socket (/api/v1/ws) that timestamps every
// message.created event of a load message by the send time in its text.
type Agent struct {
	Base, Token string
	Fleet       *Fleet // its window decides which samples count
	Lat         Latencies
	Errors      Errors
	Events      atomic.Int64

	mu   sync.Mutex
	seen map[string]bool
	seq  int64
}

// Seen tells whether the event of a client_id arrived.
func (a *Agent) Seen(cid string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seen[cid]
}

// Run reads events until ctx ends, reconnecting with ?since= the last seq seen.
func (a *Agent) Run(ctx context.Context) {
	a.mu.Lock()
	if a.seen == nil {
		a.seen = map[string]bool{}
	}
	a.mu.Unlock()
	for ctx.Err() == nil {
		a.session(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

var (
	seqKey     = []byte(`"seq":`)
	typeKey    = []byte(`"type":"`)
	messageKey = []byte(`"message":{`)
	textMarker = []byte(`"text":"` + Marker)
)

func (a *Agent) session(ctx context.Context) {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+a.Token)
	u := strings.Replace(a.Base, "http", "ws", 1) + fmt.Sprintf("/api/v1/ws?since=%d", a.seq)
	d := *Dialer
	d.ReadBufferSize = 64 << 10
	c, resp, err := d.DialContext(ctx, u, h)
	if err != nil {
		if ctx.Err() == nil {
			a.Errors.Add("agent_" + DialKind(err, resp))
		}
		return
	}
	defer c.Close()
	go func() {
		<-ctx.Done()
		c.Close()
	}()
	for {
		_, b, err := c.ReadMessage()
		now := time.Now()
		if err != nil {
			if ctx.Err() == nil {
				k, _, _ := ReadKind(err)
				a.Errors.Add("agent_" + k)
			}
			return
		}
		// a light parse: the frames are large and many, and the client shares the CPU
		// with the server
		if i := bytes.LastIndex(b, seqKey); i >= 0 {
			j := i + len(seqKey)
			k := j
			for k < len(b) && b[k] >= '0' && b[k] <= '9' {
				k++
			}
			if n, err := strconv.ParseInt(string(b[j:k]), 10, 64); err == nil && n > a.seq {
				a.seq = n
			}
		}
		typ := ""
		if i := bytes.LastIndex(b, typeKey); i >= 0 {
			rest := b[i+len(typeKey):]
			if j := bytes.IndexByte(rest, '"'); j >= 0 {
				typ = string(rest[:j])
			}
		}
		switch typ {
		case "resync":
			a.Errors.Add("agent_resync")
			continue
		case "message.created":
		default:
			continue
		}
		a.Events.Add(1)
		// the message's own text: the conversation before it carries the subject and the
		// preview, which quote other messages
		m := bytes.LastIndex(b, messageKey)
		if m < 0 {
			continue
		}
		i := bytes.Index(b[m:], textMarker)
		if i < 0 {
			continue
		}
		rest := b[m+i+len(textMarker):]
		end := bytes.IndexAny(rest, " \"\\")
		if end < 0 {
			continue
		}
		tok := string(rest[:end])
		colon := strings.LastIndexByte(tok, ':')
		if colon < 0 {
			continue
		}
		cid := tok[:colon]
		ns, err := strconv.ParseInt(tok[colon+1:], 10, 64)
		if err != nil {
			continue
		}
		a.mu.Lock()
		dup := a.seen[cid]
		a.seen[cid] = true
		a.mu.Unlock()
		if dup {
			a.Errors.Add("agent_duplicate_event")
			continue
		}
		sent := time.Unix(0, ns)
		if a.Fleet == nil || a.Fleet.InWindow(sent) {
			a.Lat.Add(now.Sub(sent))
		}
	}
}
