package server

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// An admin declares an incident on the incidents page, in a real browser; it reaches
// an open widget live, the public status page, an e-mail customer by SMTP, and a new
// ticket gets the automatic reply with the estimate.
func TestBrowserIncidentReachesEveryone(t *testing.T) {
	k := startKibo(t)
	dc := startTestDovecot(t)
	smtpBox, smtpPort := startSMTPSink(t)
	inbox := k.addEmailInbox(dc, smtpPort)
	mailInbox := int64(inbox["id"].(float64))
	convs := func() []map[string]any {
		var list struct {
			Conversations []map[string]any `json:"conversations"`
		}
		k.api("GET", fmt.Sprintf("/api/v1/conversations?inbox=%d", mailInbox), k.agentToken, nil, &list, 200)
		return list.Conversations
	}
	dc.appendMail(t, `From: Karl Meyer <karl@example.org>
To: support@example.com
Subject: Dashboard does not load
Message-ID: <karl-b1@example.org>
Date: Thu, 26 Nov 2026 08:00:00 +0000
Content-Type: text/plain; charset=utf-8

The dashboard shows a blank page.
`)
	waitFor(t, "Karl's mail as a ticket", func() bool { return len(convs()) == 1 })

	br := newBrowser(t)
	visitor := br.tab("visitor")
	openWidget(visitor, k.base+"/demo")

	admin := br.tab("admin")
	loginAgent(admin, k.base, "admin@example.com", "admin-password")
	admin.navigate(k.base + "/incidents")
	admin.waitJS("the declare button", `document.getElementById('declare') && !document.getElementById('declare').hidden`, 10*time.Second)
	admin.click(`document.getElementById('declare')`)
	admin.waitJS("the declare dialog", `document.querySelector('form.dialog input[type=text]')`, 5*time.Second)
	const title = "Dashboard outage in EU region"
	admin.typeText(`document.querySelector('form.dialog input[type=text]')`, title)
	admin.typeText(`document.querySelector('form.dialog textarea')`, "Dashboards fail to load; we are rolling back a deploy.")
	admin.exec(`(() => {
	  const eta = document.querySelector('form.dialog input[type=datetime-local]');
	  const d = new Date(Date.now() + 2 * 3600 * 1000);
	  const pad = (n) => String(n).padStart(2, '0');
	  eta.value = d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + 'T' + pad(d.getHours()) + ':' + pad(d.getMinutes());
	})()`)
	admin.click(`document.querySelector('form.dialog button[type=submit]')`)

	// the open widget shows it live
	visitor.waitJS("the incident banner in the widget", `!`+wid("kibo-banner")+`.hidden && `+wid("kibo-banner")+`.textContent.includes(`+jsq(title)+`)`, 10*time.Second,
		wid("kibo-banner")+`.textContent`)
	visitor.screenshot("widget-incident")

	// the status page, which works without JavaScript
	resp, err := http.Get(k.base + "/status")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), title) || strings.Contains(strings.ToLower(string(page)), "<script") {
		t.Fatalf("status page (must name the incident and need no script):\n%.2000s", page)
	}
	admin.navigate(k.base + "/status")
	admin.waitJS("the status page", `document.body.textContent.includes(`+jsq(title)+`)`, 5*time.Second)
	admin.screenshot("status-page")

	// Karl hears about it by e-mail, on his own thread
	var broadcast string
	waitFor(t, "the incident e-mail to Karl", func() bool {
		for _, m := range smtpBox.received() {
			if strings.Contains(unfoldQP(m), title) {
				broadcast = m
				return true
			}
		}
		return false
	})
	if header(broadcast, "In-Reply-To") != "<karl-b1@example.org>" {
		t.Errorf("broadcast not threaded: In-Reply-To %q", header(broadcast, "In-Reply-To"))
	}

	// a new ticket during the incident gets the automatic reply with the estimate
	dc.appendMail(t, `From: Lisa Park <lisa@example.net>
To: support@example.com
Subject: Cannot log in to the dashboard
Message-ID: <lisa-b1@example.net>
Date: Thu, 26 Nov 2026 09:00:00 +0000
Content-Type: text/plain; charset=utf-8

Blank page for me too.
`)
	var auto string
	waitFor(t, "the automatic reply to Lisa", func() bool {
		for _, m := range smtpBox.received() {
			if header(m, "In-Reply-To") == "<lisa-b1@example.net>" {
				auto = m
				return true
			}
		}
		return false
	})
	if text := unfoldQP(auto); !strings.Contains(text, title) || !strings.Contains(text, "expect it to be resolved by") {
		t.Fatalf("automatic reply:\n%s", auto)
	}
	// once per contact: Lisa writing again gets no second automatic reply
	before := len(smtpBox.received())
	dc.appendMail(t, `From: Lisa Park <lisa@example.net>
To: support@example.com
Subject: Re: Cannot log in to the dashboard
Message-ID: <lisa-b2@example.net>
In-Reply-To: <lisa-b1@example.net>
Date: Thu, 26 Nov 2026 09:05:00 +0000
Content-Type: text/plain; charset=utf-8

Still blank.
`)
	waitFor(t, "Lisa's second mail", func() bool {
		for _, c := range convs() {
			if strings.Contains(fmt.Sprint(c["preview"]), "Still blank") {
				return true
			}
		}
		return false
	})
	time.Sleep(300 * time.Millisecond)
	if after := len(smtpBox.received()); after != before {
		t.Fatalf("%d more mails after Lisa wrote again: the automatic reply goes once per contact", after-before)
	}
}

// unfoldQP joins quoted-printable soft line breaks so a phrase can be found in a mail.
func unfoldQP(raw string) string { return strings.ReplaceAll(raw, "=\r\n", "") }
