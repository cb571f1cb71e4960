package loadkit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// API is a client of Kibo's agent API with a Bearer token.
type API struct {
	Base   string
	Token  string
	Client *http.Client
}

// Do sends a JSON request and decodes a JSON answer into out (when not nil). It
// returns the status, the response headers and an error for transport failures or an
// undecodable body.
func (a API) Do(method, path string, body, out any) (int, http.Header, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.Base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.Token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c := a.Client
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, resp.Header, err
	}
	if out != nil && resp.StatusCode/100 == 2 && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, resp.Header, fmt.Errorf("%s %s: status %d, body not JSON: %.200s", method, path, resp.StatusCode, b)
		}
	}
	if resp.StatusCode/100 != 2 && out != nil {
		return resp.StatusCode, resp.Header, fmt.Errorf("%s %s: status %d: %.300s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode, resp.Header, nil
}

// CreateChatInbox makes a chat inbox open to any page and returns its public key.
func (a API) CreateChatInbox(name string) (string, error) {
	var in struct {
		ID        int64  `json:"id"`
		PublicKey string `json:"public_key"`
	}
	if _, _, err := a.Do("POST", "/api/v1/inboxes", map[string]any{"kind": "chat", "name": name, "settings": map[string]any{}}, &in); err != nil {
		return "", err
	}
	if in.PublicKey == "" {
		return "", fmt.Errorf("the new chat inbox has no public_key")
	}
	return in.PublicKey, nil
}

// StoredMessage is the part of an API message the checks read.
type StoredMessage struct {
	ID             int64  `json:"id"`
	ConversationID int64  `json:"conversation_id"`
	Direction      string `json:"direction"`
	ClientID       string `json:"client_id"`
	Text           string `json:"text"`
}

// AllMessages walks every conversation through the API (GET /api/v1/conversations
// with limit=200 and the cursor, then each one's /messages) and returns the inbound
// messages that carry a client_id, with the number of conversations read.
func (a API) AllMessages() ([]StoredMessage, int, error) {
	var out []StoredMessage
	cursor, convs := "", 0
	for page := 0; page < 100000; page++ {
		var list struct {
			Conversations []struct {
				ID int64 `json:"id"`
			} `json:"conversations"`
			Next string `json:"next_cursor"`
		}
		q := "/api/v1/conversations?limit=200"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		if _, _, err := a.Do("GET", q, nil, &list); err != nil {
			return nil, convs, err
		}
		for _, c := range list.Conversations {
			convs++
			var msgs struct {
				Messages []StoredMessage `json:"messages"`
			}
			if _, _, err := a.Do("GET", fmt.Sprintf("/api/v1/conversations/%d/messages", c.ID), nil, &msgs); err != nil {
				return nil, convs, err
			}
			for _, m := range msgs.Messages {
				if m.ClientID != "" && m.Direction == "in" {
					out = append(out, m)
				}
			}
		}
		if list.Next == "" || len(list.Conversations) == 0 {
			return out, convs, nil
		}
		cursor = list.Next
	}
	return out, convs, fmt.Errorf("more than 100000 pages of conversations")
}
