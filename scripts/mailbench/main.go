// Command mailbench measures e-mail ingest: it appends N generated messages to a
// throwaway Dovecot (scripts/dovecot.sh), starts kibo on a fresh data directory (admin
// and token made through the CLI), adds an e-mail inbox for that mailbox through the
// API, and times until every message is stored (kibo_messages_ingested_total on
// /metrics). It runs that several times and reports messages per second, the median
// of the runs, then checks the result through the API: every message once, replies
// threaded onto their conversations.
//
// Everything listens on 127.0.0.1 only.
//
//	go build -tags sqlite_fts5 -o bin/kibo ./cmd/kibo
//	go run ./scripts/mailbench --bin bin/kibo --n 10000 --runs 3
//
// The messages are varied the way a support mailbox is: plain text (some Latin-1,
// quoted-printable), multipart/alternative with styled HTML, multipart/mixed with a
// small PDF or PNG attachment, and replies (In-Reply-To, References, quoted text)
// to earlier messages of the same customer.
package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"mime/quotedprintable"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"kibo/scripts/loadkit"
)

type options struct {
	bin, dovecot, cpuProfile, pprofAddr string
	n, runs, conns                      int
	seed                                uint64
	timeout, profileFor                 time.Duration
	durability                          string
	keep                                bool
}

func main() {
	var o options
	fs := flag.NewFlagSet("mailbench", flag.ExitOnError)
	fs.StringVar(&o.bin, "bin", "bin/kibo", "the kibo binary to measure")
	fs.StringVar(&o.dovecot, "dovecot", "scripts/dovecot.sh", "the script that starts a throwaway Dovecot")
	fs.IntVar(&o.n, "n", 10000, "messages per run")
	fs.IntVar(&o.runs, "runs", 3, "runs (the report gives the median)")
	fs.IntVar(&o.conns, "append-conns", 4, "IMAP connections appending the messages")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the generated messages")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up on a run after this long")
	fs.StringVar(&o.durability, "durability", "", "KIBO_DURABILITY for kibo serve (full or normal; empty: kibo's default, full)")
	fs.StringVar(&o.pprofAddr, "pprof", "127.0.0.1:6061", "KIBO_PPROF address, used with --cpuprofile")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of kibo during the first run to this file")
	fs.DurationVar(&o.profileFor, "profile-seconds", 5*time.Second, "how long the CPU profile records")
	fs.BoolVar(&o.keep, "keep", false, "keep the data and mail directories")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `mailbench: append N messages to a throwaway Dovecot, point a fresh kibo at it, time until all are stored.
Reports messages per second (median of --runs). Loopback only. Needs Dovecot (scripts/dovecot.sh installs it).

  go build -tags sqlite_fts5 -o bin/kibo ./cmd/kibo && go run ./scripts/mailbench --bin bin/kibo --n 10000 --runs 3

Flags:`)
		fs.PrintDefaults()
	}
	fs.Parse(os.Args[1:])
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "mailbench:", err)
		os.Exit(1)
	}
}

type result struct {
	elapsed, firstAfter time.Duration
	appendRate          float64
	conversations       int
}

func run(o options) error {
	var err error
	if o.bin, err = filepath.Abs(o.bin); err != nil {
		return err
	}
	if _, err := os.Stat(o.bin); err != nil {
		return fmt.Errorf("%s: %w (build it: go build -tags sqlite_fts5 -o bin/kibo ./cmd/kibo)", o.bin, err)
	}
	if o.dovecot, err = filepath.Abs(o.dovecot); err != nil {
		return err
	}
	corpus := generate(o.n, o.seed)
	fmt.Printf("mailbench: %d messages (%s), %d runs, kibo %s, %d CPUs, load %s\n",
		o.n, corpus.describe(), o.runs, o.bin, runtime.NumCPU(), loadkit.LoadAvg())
	var results []result
	for i := 0; i < o.runs; i++ {
		r, err := runOnce(o, corpus, i == 0 && o.cpuProfile != "")
		if r.elapsed > 0 {
			rate := float64(o.n) / r.elapsed.Seconds()
			fmt.Printf("run %d: %d messages stored in %.2f s = %.0f messages/s (first after %.0f ms; %d conversations; APPEND %.0f/s)\n",
				i+1, o.n, r.elapsed.Seconds(), rate, float64(r.firstAfter)/float64(time.Millisecond), r.conversations, r.appendRate)
		}
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		results = append(results, r)
	}
	rates := make([]float64, len(results))
	for i, r := range results {
		rates[i] = float64(o.n) / r.elapsed.Seconds()
	}
	slices.Sort(rates)
	fmt.Printf("median: %.0f messages/s (runs: %s)\n", rates[len(rates)/2], joinRates(rates))
	return nil
}

func joinRates(r []float64) string {
	s := make([]string, len(r))
	for i, v := range r {
		s[i] = strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strings.Join(s, ", ")
}

func runOnce(o options, corpus *corpus, profile bool) (result, error) {
	var res result
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	// short: Dovecot's sockets live under it (at most 107 bytes a path)
	dir, err := os.MkdirTemp("", "kmb-")
	if err != nil {
		return res, err
	}
	// Dovecot's auth and mail processes run as other users: they must get through
	if err := os.Chmod(dir, 0o755); err != nil {
		return res, err
	}
	if !o.keep {
		defer os.RemoveAll(dir)
	} else {
		fmt.Println("  kept:", dir)
	}
	mailDir := filepath.Join(dir, "dc")
	addr, err := loadkit.FreeAddr()
	if err != nil {
		return res, err
	}
	port := addr[strings.LastIndex(addr, ":")+1:]
	if out, err := exec.Command(o.dovecot, "start", mailDir, port).CombinedOutput(); err != nil {
		return res, fmt.Errorf("dovecot.sh start: %v: %s", err, out)
	}
	defer exec.Command(o.dovecot, "stop", mailDir).Run()

	t0 := time.Now()
	if err := appendAll(addr, corpus, o.conns); err != nil {
		return res, err
	}
	res.appendRate = float64(len(corpus.msgs)) / time.Since(t0).Seconds()

	// the throwaway Dovecot listens on loopback
	k := &loadkit.Kibo{Bin: o.bin, Data: filepath.Join(dir, "data"), Env: []string{"KIBO_ALLOW_PRIVATE_HOSTS=true"}}
	if o.durability != "" {
		k.Env = append(k.Env, "KIBO_DURABILITY="+o.durability)
	}
	if profile {
		k.Env = append(k.Env, "KIBO_PPROF="+o.pprofAddr)
	}
	if err := k.Setup(); err != nil {
		return res, err
	}
	if err := k.Start(ctx); err != nil {
		return res, err
	}
	defer k.Stop(30 * time.Second)
	api := loadkit.API{Base: k.Base(), Token: k.Token}

	p, _ := strconv.Atoi(port)
	start := time.Now()
	var inbox struct {
		ID int64 `json:"id"`
	}
	if _, _, err := api.Do("POST", "/api/v1/inboxes", map[string]any{"kind": "email", "name": "Bench mail", "settings": map[string]any{
		"address": "support@example.com",
		"imap":    map[string]any{"host": "127.0.0.1", "port": p, "tls": "none", "username": "support@example.com", "password": "secret", "mailbox": "INBOX"},
		"smtp":    map[string]any{"host": "127.0.0.1", "port": 1, "tls": "none", "username": "", "password": ""},
	}}, &inbox); err != nil {
		return res, err
	}
	var profErr chan error
	if profile {
		profErr = make(chan error, 1)
		go func() { profErr <- cpuProfile(o.pprofAddr, o.profileFor, o.cpuProfile) }()
	}
	for {
		n, err := ingested(k.Base())
		if err != nil {
			return res, err
		}
		if n > 0 && res.firstAfter == 0 {
			res.firstAfter = time.Since(start)
		}
		if n >= int64(len(corpus.msgs)) {
			res.elapsed = time.Since(start)
			break
		}
		if ctx.Err() != nil {
			return res, fmt.Errorf("only %d of %d messages stored after %s (log: %s)", n, len(corpus.msgs), o.timeout, k.Log)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if profErr != nil {
		if err := <-profErr; err != nil {
			return res, err
		}
		fmt.Printf("  CPU profile of kibo (%s from the inbox's creation): %s (go tool pprof -top %s %s)\n", o.profileFor, o.cpuProfile, o.bin, o.cpuProfile)
	}

	// Every message once, each reply on its customer's conversation.
	time.Sleep(300 * time.Millisecond)
	if n, err := ingested(k.Base()); err != nil || n != int64(len(corpus.msgs)) {
		return res, fmt.Errorf("%d messages ingested, want %d (%v)", n, len(corpus.msgs), err)
	}
	var counts struct {
		ByStatus map[string]int `json:"by_status"`
	}
	if _, _, err := api.Do("GET", "/api/v1/counts", nil, &counts); err != nil {
		return res, err
	}
	for _, v := range counts.ByStatus {
		res.conversations += v
	}
	if res.conversations != corpus.originals {
		return res, fmt.Errorf("%d conversations, want %d (one per message that is not a reply)", res.conversations, corpus.originals)
	}
	return res, k.Stop(30 * time.Second)
}

// ingested reads kibo_messages_ingested_total from /metrics.
func ingested(base string) (int64, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "kibo_messages_ingested_total "); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, errors.New("/metrics has no kibo_messages_ingested_total")
}

func cpuProfile(addr string, d time.Duration, out string) error {
	c := &http.Client{Timeout: d + 30*time.Second}
	resp, err := c.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(d.Seconds())))
	if err != nil {
		return fmt.Errorf("CPU profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("CPU profile: %s: %s", resp.Status, b)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// appendAll APPENDs the messages over conns connections at once; connection c takes
// every conns-th message. A reply is appended only once its original's APPEND has
// completed, so the original has the lower UID, as in a real mailbox.
func appendAll(addr string, c *corpus, conns int) error {
	msgs := c.msgs
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	done := make([]atomic.Bool, len(msgs))
	for k := 0; k < conns; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			cl, err := login(addr)
			if err != nil {
				errs <- err
				return
			}
			defer cl.Close()
			for i := k; i < len(msgs); i += conns {
				// The connection with the lowest message not yet appended never waits
				// (its original is lower, so done): no deadlock.
				for p := c.parent[i]; p >= 0 && !done[p].Load(); {
					time.Sleep(100 * time.Microsecond)
				}
				cmd := cl.Append("INBOX", int64(len(msgs[i])), &imap.AppendOptions{})
				if _, err := cmd.Write(msgs[i]); err != nil {
					errs <- err
					return
				}
				if err := cmd.Close(); err != nil {
					errs <- err
					return
				}
				if _, err := cmd.Wait(); err != nil {
					errs <- fmt.Errorf("APPEND message %d: %w", i, err)
					return
				}
				done[i].Store(true)
			}
			cl.Logout().Wait()
		}(k)
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// login connects and logs in, retrying for a while: a Dovecot that has just started
// answers "Temporary authentication failure" until its auth process is up.
func login(addr string) (*imapclient.Client, error) {
	var last error
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		cl, err := imapclient.DialInsecure(addr, nil)
		if err != nil {
			last = err
			continue
		}
		if err := cl.Login("support@example.com", "secret").Wait(); err != nil {
			cl.Close()
			last = err
			continue
		}
		return cl, nil
	}
	return nil, fmt.Errorf("IMAP login to the throwaway Dovecot: %w", last)
}

// ---- the generated mailbox -----------------------------------------------------------

type corpus struct {
	msgs      [][]byte
	parent    []int // the original a reply answers, -1 for the others
	originals int
	kinds     map[string]int
	bytes     int
}

func (c *corpus) describe() string {
	var parts []string
	for _, k := range []string{"plain", "latin1", "alternative", "attachment", "reply"} {
		parts = append(parts, fmt.Sprintf("%d %s", c.kinds[k], k))
	}
	return strings.Join(parts, ", ") + fmt.Sprintf("; %.1f MB, %.1f KB average", float64(c.bytes)/(1<<20), float64(c.bytes)/float64(len(c.msgs))/1024)
}

var (
	firstNames = []string{"Anna", "Ben", "Chloé", "Dmitri", "Emma", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Karl", "Lena", "Mateo", "Nora", "Omar", "Paula", "Quentin", "Rosa", "Sven", "Tomasz", "Ute", "Valeria", "Wen", "Yusuf", "Zoë"}
	lastNames  = []string{"Meyer", "Schmidt", "Dubois", "Rossi", "García", "Nowak", "Jensen", "Tanaka", "Silva", "Müller", "Novak", "Kowalski", "Ahmed", "Öztürk", "Larsen"}
	topics     = []string{"Order %d has not arrived", "Invoice %d: wrong VAT number", "Cannot log in since the update", "Refund for order %d", "Question about my subscription", "Printer model %d makes a grinding noise", "Change of delivery address", "Damaged item in parcel %d", "How do I export my data?", "Two-factor codes not arriving", "Cancel my account", "Discount code %d rejected at checkout"}
	words      = strings.Fields(`the order arrived yesterday but the box was open and one part is missing I tried again this morning and it still does not work could you please check what happened my account number is in the subject we have been customers for years and this never happened before thanks in advance for your help kind regards it shows an error when I click on pay the app crashes after the login screen the delivery was supposed to come on Monday I attached a photo of the label please send a replacement or refund the amount`)
)

func generate(n int, seed uint64) *corpus {
	r := rand.New(rand.NewPCG(seed, 42))
	c := &corpus{kinds: map[string]int{}}
	customers := max(n/4, 1)
	type original struct {
		id, subject, from, quote string
		customer, index          int
	}
	var originals []original
	date := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		date = date.Add(time.Duration(30+r.IntN(300)) * time.Second)
		cust := r.IntN(customers)
		name := firstNames[cust%len(firstNames)] + " " + lastNames[(cust/len(firstNames))%len(lastNames)]
		from := fmt.Sprintf("%s <customer%d@example.net>", encodeName(name), cust)
		id := fmt.Sprintf("<bench-%d-%d@example.net>", seed, i)
		body := sentences(r, 2+r.IntN(12))
		var b strings.Builder
		kind := "plain"
		p := r.IntN(100)
		if p < 20 && len(originals) > 0 {
			kind = "reply"
		} else if p < 55 {
			kind = "plain"
		} else if p < 62 {
			kind = "latin1"
		} else if p < 88 {
			kind = "alternative"
		} else {
			kind = "attachment"
		}
		subject := topics[r.IntN(len(topics))]
		if strings.Contains(subject, "%d") {
			subject = fmt.Sprintf(subject, 10000+r.IntN(90000))
		}
		parent := -1
		var orig original
		if kind == "reply" {
			// an earlier message of the same customer
			orig = originals[r.IntN(len(originals))]
			from, cust, parent = orig.from, orig.customer, orig.index
		}
		fmt.Fprintf(&b, "Return-Path: <customer%d@example.net>\r\nReceived: from mx.example.net (mx.example.net [192.0.2.%d]) by mail.example.com; %s\r\n",
			cust, 1+r.IntN(250), date.Format(time.RFC1123Z))
		fmt.Fprintf(&b, "From: %s\r\nTo: Support <support@example.com>\r\nDate: %s\r\nMessage-ID: %s\r\nMIME-Version: 1.0\r\n", from, date.Format(time.RFC1123Z), id)
		switch kind {
		case "reply":
			fmt.Fprintf(&b, "Subject: Re: %s\r\nIn-Reply-To: %s\r\nReferences: %s\r\n", orig.subject, orig.id, orig.id)
			b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
			b.WriteString(wrap(sentences(r, 1+r.IntN(4))) + "\r\n\r\nOn " + date.Add(-time.Hour).Format("Mon, 2 Jan 2006 at 15:04") + ", I wrote:\r\n")
			for _, l := range strings.Split(wrap(orig.quote), "\r\n") {
				b.WriteString("> " + l + "\r\n")
			}
		case "plain":
			fmt.Fprintf(&b, "Subject: %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n", subject)
			b.WriteString("Hello,\r\n\r\n" + wrap(body) + "\r\n\r\n" + name + "\r\n")
		case "latin1":
			fmt.Fprintf(&b, "Subject: %s\r\nContent-Type: text/plain; charset=ISO-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n",
				mime.QEncoding.Encode("ISO-8859-1", latin1("Frage zur Lieferung – Grüße aus Köln: "+subject)))
			b.WriteString(qp(latin1("Guten Tag,\n\n" + body + "\n\nMit freundlichen Grüßen\n" + name + "\n")))
		case "alternative":
			fmt.Fprintf(&b, "Subject: %s\r\nContent-Type: multipart/alternative; boundary=\"alt-%d\"\r\n\r\n", subject, i)
			fmt.Fprintf(&b, "--alt-%d\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n%s\r\n", i, qp("Hello,\n\n"+body+"\n\n"+name))
			fmt.Fprintf(&b, "--alt-%d\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n%s\r\n--alt-%d--\r\n", i, qp(htmlBody(r, body, name)), i)
		case "attachment":
			fmt.Fprintf(&b, "Subject: %s\r\nContent-Type: multipart/mixed; boundary=\"mix-%d\"\r\n\r\n", subject, i)
			fmt.Fprintf(&b, "--mix-%d\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello,\r\n\r\n%s\r\n\r\n%s\r\n", i, wrap(body), name)
			att := make([]byte, 1024+r.IntN(8*1024))
			for j := range att {
				att[j] = byte(r.UintN(256))
			}
			fname, ctype := fmt.Sprintf("photo-%d.png", i), "image/png"
			if r.IntN(2) == 0 {
				fname, ctype = fmt.Sprintf("Rechnung %d.pdf", 10000+i), "application/pdf"
				copy(att, "%PDF-1.4\n")
			} else {
				copy(att, "\x89PNG\r\n\x1a\n")
			}
			fmt.Fprintf(&b, "--mix-%d\r\nContent-Type: %s; name=\"%s\"\r\nContent-Disposition: attachment; filename=\"%s\"\r\nContent-Transfer-Encoding: base64\r\n\r\n%s--mix-%d--\r\n",
				i, ctype, fname, fname, base64Lines(att), i)
		}
		if kind != "reply" {
			originals = append(originals, original{id: id, subject: subject, from: from, quote: body, customer: cust, index: i})
			c.originals++
		}
		c.parent = append(c.parent, parent)
		c.kinds[kind]++
		c.msgs = append(c.msgs, []byte(b.String()))
		c.bytes += b.Len()
	}
	return c
}

func encodeName(name string) string {
	if e := mime.QEncoding.Encode("utf-8", name); e != name {
		return e
	}
	return `"` + name + `"`
}

func sentences(r *rand.Rand, n int) string {
	var s []string
	for i := 0; i < n; i++ {
		l := 6 + r.IntN(14)
		w := make([]string, l)
		for j := range w {
			w[j] = words[r.IntN(len(words))]
		}
		w[0] = strings.ToUpper(w[0][:1]) + w[0][1:]
		s = append(s, strings.Join(w, " ")+".")
	}
	return strings.Join(s, " ")
}

func wrap(s string) string {
	var lines []string
	var cur []string
	n := 0
	for _, w := range strings.Fields(s) {
		if n+len(w) > 72 && n > 0 {
			lines = append(lines, strings.Join(cur, " "))
			cur, n = nil, 0
		}
		cur = append(cur, w)
		n += len(w) + 1
	}
	if len(cur) > 0 {
		lines = append(lines, strings.Join(cur, " "))
	}
	return strings.Join(lines, "\r\n")
}

func htmlBody(r *rand.Rand, body, name string) string {
	var b strings.Builder
	b.WriteString(`<!DOCTYPE html><html><head><meta charset="utf-8"><style>p{margin:0 0 1em} .sig{color:#888}</style></head><body style="font-family:Arial,sans-serif;font-size:14px">`)
	b.WriteString(`<div dir="ltr"><p>Hello,</p>`)
	for _, s := range strings.SplitAfter(body, ". ") {
		fmt.Fprintf(&b, `<p style="color:#222">%s</p>`, s)
	}
	if r.IntN(2) == 0 {
		b.WriteString(`<table border="0" cellpadding="4"><tr><th>Item</th><th>Qty</th></tr>`)
		for j := 0; j < 1+r.IntN(4); j++ {
			fmt.Fprintf(&b, `<tr><td>Part %d</td><td align="right">%d</td></tr>`, r.IntN(1000), 1+r.IntN(5))
		}
		b.WriteString(`</table>`)
	}
	fmt.Fprintf(&b, `<p>See <a href="https://shop.example.net/orders/%d">my order</a>.</p>`, r.IntN(100000))
	fmt.Fprintf(&b, `<p class="sig">-- <br>%s<br><img src="https://shop.example.net/logo.png" width="80" alt="logo"></p></div></body></html>`, name)
	return b.String()
}

func qp(s string) string {
	var b strings.Builder
	w := quotedprintable.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

// latin1 encodes s as ISO-8859-1 (every rune of s must be in it, or it becomes '?').
func latin1(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r < 256 {
			b = append(b, byte(r))
		} else if r == '–' {
			b = append(b, '-')
		} else {
			b = append(b, '?')
		}
	}
	return string(b)
}

func base64Lines(data []byte) string {
	s := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	b.WriteString(s + "\r\n")
	return b.String()
}
