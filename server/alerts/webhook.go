package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"kibo/server/words"
)

// WebhookPayload is what the team's webhook receives (docs/API.md).
type WebhookPayload struct {
	Kind string    `json:"kind"`
	Text string    `json:"text"`
	Link string    `json:"link"`
	At   time.Time `json:"at"`
}

// SendWebhooks POSTs the alerts waiting for the team's webhook, retrying a failed
// call with backoff (1, 2, 4, 8 minutes) before giving up on it.
func (t *Team) SendWebhooks(ctx context.Context) {
	t.webhookMu.Lock()
	defer t.webhookMu.Unlock()
	settings, err := t.Store.Settings(ctx, "alert_webhook_url")
	if err != nil {
		return
	}
	target := settings["alert_webhook_url"]
	now := t.Now()
	due, err := t.Store.DueAlertWebhooks(ctx, now, 2*time.Minute, 50)
	if err != nil || len(due) == 0 {
		return
	}
	client := t.Hosts.Client(10 * time.Second)
	for _, d := range due {
		a := d.Alert
		if ctx.Err() != nil {
			return
		}
		if target == "" {
			t.Store.AlertWebhookDone(ctx, a.ID, "no webhook URL is set", nil)
			continue
		}
		err := postAlert(ctx, client, target, WebhookPayload{Kind: a.Kind, Text: a.Text, Link: words.Link(t.PublicURL, a.Link), At: a.CreatedAt})
		var next *time.Time
		errText := ""
		if err != nil {
			errText = err.Error()
			if d.Attempts < 4 {
				at := now.Add(time.Minute << d.Attempts)
				next = &at
			}
			t.Log.Warn("alert webhook", "alert", a.ID, "err", err)
		}
		t.Store.AlertWebhookDone(ctx, a.ID, errText, next)
	}
}

func postAlert(ctx context.Context, client *http.Client, target string, p WebhookPayload) error {
	body, _ := json.Marshal(p)
	req, err := http.NewRequestWithContext(ctx, "POST", target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Kibo alerts")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("the webhook answered %s", resp.Status)
	}
	return nil
}
