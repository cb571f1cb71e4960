// Package storegen writes large, realistic inboxes for the store benchmarks and the
// migration tests and timing (scripts/gendata, store/bench_test.go,
// store/migrate_test.go). It writes straight to a new database file in big
// transactions with multi-row prepared INSERTs, synchronous=OFF and no journal, and
// keeps the full-text index consistent either through the insert trigger or by
// dropping it and rebuilding the index at the end.
//
// It builds the schema from the store's own migration files (store/migrations), at
// any version, and imports nothing else of the store: the store's own tests use it.
package storegen

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3" // the driver the store registers, for a process without the store

	"kibo/store/migrations"
)

// Config sizes a generated database.
type Config struct {
	Conversations int     // default 10,000
	MessagesPer   float64 // messages per conversation on average (default 10)
	Agents        int     // default 20
	// FTS is "rebuild" (drop the insert trigger, rebuild the index once at the end) or
	// "trigger" (the schema's trigger indexes each message as it is inserted).
	FTS string
	// SchemaVersion 0 is the current schema; 1 writes a database at the first
	// migration only (for the migration test and its timing).
	SchemaVersion int
	Seed          uint64
	// Now is the newest activity (default: the clock).
	Now time.Time
	// Progress, when set, is called after each transaction with the messages written.
	Progress func(messages, total int)
}

// Stats says what Generate made and how long each part took.
type Stats struct {
	Conversations, Messages, Contacts int
	Schema, Insert, FTS, Total        time.Duration
	Bytes                             int64
}

// Generate writes a new database dir/kibo.db (the directory must not hold one).
func Generate(ctx context.Context, dir string, g Config) (Stats, error) {
	var st Stats
	start := time.Now()
	if g.Conversations <= 0 {
		g.Conversations = 10000
	}
	if g.MessagesPer <= 0 {
		g.MessagesPer = 10
	}
	if g.Agents <= 0 {
		g.Agents = 20
	}
	if g.FTS == "" {
		g.FTS = "rebuild"
	}
	if g.FTS != "rebuild" && g.FTS != "trigger" {
		return st, fmt.Errorf("fts must be rebuild or trigger, not %q", g.FTS)
	}
	if g.Now.IsZero() {
		g.Now = time.Now().UTC()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return st, err
	}
	path := filepath.Join(dir, "kibo.db")
	if _, err := os.Stat(path); err == nil {
		return st, fmt.Errorf("%s exists: generate into an empty directory", path)
	}
	ms, err := migrations.All()
	if err != nil {
		return st, err
	}
	version := g.SchemaVersion
	if version <= 0 {
		version = ms[len(ms)-1].Version
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?_foreign_keys=off")
	if err != nil {
		return st, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, p := range []string{"PRAGMA journal_mode=OFF", "PRAGMA synchronous=OFF", "PRAGMA cache_size=-524288",
		"PRAGMA temp_store=MEMORY", "PRAGMA locking_mode=EXCLUSIVE"} {
		if _, err := db.ExecContext(ctx, p); err != nil {
			return st, fmt.Errorf("%s: %w", p, err)
		}
	}
	// the schema exactly as Open builds it, up to the version asked for
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		return st, err
	}
	for _, m := range ms {
		if m.Version > version {
			break
		}
		if _, err := db.ExecContext(ctx, m.SQL); err != nil {
			return st, fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)`, m.Version, m.Name, formatTime(g.Now)); err != nil {
			return st, err
		}
	}
	st.Schema = time.Since(start)

	// Schemas before 0009 index messages by an insert trigger: "rebuild" drops it while
	// inserting and restores it after. From 0009 on the store indexes what it inserts,
	// so the generator always rebuilds.
	var trigger string
	if err := db.QueryRowContext(ctx, `SELECT COALESCE((SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'messages_fts_insert'), '')`).Scan(&trigger); err != nil {
		return st, err
	}
	rebuild := g.FTS == "rebuild" || trigger == ""
	if g.FTS == "rebuild" && trigger != "" {
		if _, err := db.ExecContext(ctx, `DROP TRIGGER messages_fts_insert`); err != nil {
			return st, err
		}
	}
	t := time.Now()
	gen := newGenerator(g)
	if err := gen.write(ctx, db, &st); err != nil {
		return st, err
	}
	st.Insert = time.Since(t)
	if rebuild {
		t = time.Now()
		if _, err := db.ExecContext(ctx, `INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')`); err != nil {
			return st, fmt.Errorf("rebuild the full-text index: %w", err)
		}
		if g.FTS == "rebuild" && trigger != "" {
			if _, err := db.ExecContext(ctx, trigger); err != nil {
				return st, fmt.Errorf("recreate the FTS trigger: %w", err)
			}
		}
		st.FTS = time.Since(t)
	}
	// leave it as the store keeps it: WAL
	if _, err := db.ExecContext(ctx, `PRAGMA journal_mode=WAL`); err != nil {
		return st, err
	}
	if err := db.Close(); err != nil {
		return st, err
	}
	if fi, err := os.Stat(path); err == nil {
		st.Bytes = fi.Size()
	}
	st.Total = time.Since(start)
	return st, nil
}

// bulk buffers rows of one table and inserts them many to a statement.
type bulk struct {
	db      *sql.DB
	table   string
	cols    []string
	perStmt int
	stmt    *sql.Stmt
	args    []any
}

func newBulk(db *sql.DB, table string, cols ...string) *bulk {
	per := 30000 / len(cols)
	if per > 200 {
		per = 200
	}
	return &bulk{db: db, table: table, cols: cols, perStmt: per}
}

func (b *bulk) sql(rows int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(b.cols)), ", ") + ")"
	return "INSERT INTO " + b.table + "(" + strings.Join(b.cols, ", ") + ") VALUES " + strings.TrimSuffix(strings.Repeat(row+", ", rows), ", ")
}

func (b *bulk) add(ctx context.Context, vals ...any) error {
	b.args = append(b.args, vals...)
	if len(b.args) < b.perStmt*len(b.cols) {
		return nil
	}
	if b.stmt == nil {
		st, err := b.db.PrepareContext(ctx, b.sql(b.perStmt))
		if err != nil {
			return err
		}
		b.stmt = st
	}
	_, err := b.stmt.ExecContext(ctx, b.args...)
	b.args = b.args[:0]
	return err
}

func (b *bulk) flush(ctx context.Context) error {
	if len(b.args) == 0 {
		return nil
	}
	_, err := b.db.ExecContext(ctx, b.sql(len(b.args)/len(b.cols)), b.args...)
	b.args = b.args[:0]
	return err
}

func (b *bulk) close() {
	if b.stmt != nil {
		b.stmt.Close()
	}
}

func formatTime(t time.Time) string { return t.UTC().Format(migrations.TimeLayout) }

// preview is what the store keeps as a conversation's one-line summary
// (store/messages.go); the generated texts are single-spaced already.
func preview(text string) string {
	if r := []rune(text); len(r) > 140 {
		return string(r[:140]) + "…"
	}
	return text
}

type genInbox struct {
	id   int64
	kind string
}

type generator struct {
	g       Config
	r       *rand.Rand
	zipf    *rand.Zipf
	inboxes []genInbox
	// contacts made so far: id → (inbox kind of their identity)
	contacts int64
}

func newGenerator(g Config) *generator {
	r := rand.New(rand.NewPCG(g.Seed, g.Seed^0x9e3779b97f4a7c15))
	return &generator{g: g, r: r, zipf: rand.NewZipf(r, 1.1, 2, uint64(len(genVocabulary)-1))}
}

func (gn *generator) write(ctx context.Context, db *sql.DB, st *Stats) error {
	g := gn.g
	exec := func(q string, args ...any) error { _, err := db.ExecContext(ctx, q, args...); return err }
	if err := exec("BEGIN"); err != nil {
		return err
	}
	now := formatTime(g.Now)
	for i := 1; i <= g.Agents; i++ {
		role := "agent"
		if i == 1 {
			role = "admin"
		}
		if err := exec(`INSERT INTO agents(id, email, name, role, password_hash, created_at) VALUES (?, ?, ?, ?, '!', ?)`,
			i, fmt.Sprintf("agent%d@kibo.example", i), genFirst[i%len(genFirst)]+" "+genLast[(i*7)%len(genLast)], role, now); err != nil {
			return err
		}
	}
	kinds := []string{"chat", "chat", "email", "email", "messenger", "x"}
	for i, k := range kinds {
		id := int64(i + 1)
		var key any
		settings := "{}"
		if k == "chat" {
			key = fmt.Sprintf("gen-chat-%d", id)
			settings = `{"allowed_origins":[],"brand_color":"#2f6fed","greeting":"Hi!","identity_secret":"gen-secret"}`
		}
		if err := exec(`INSERT INTO inboxes(id, kind, name, public_key, settings, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			id, k, fmt.Sprintf("%s %d", k, id), key, settings, now); err != nil {
			return err
		}
		gn.inboxes = append(gn.inboxes, genInbox{id, k})
	}
	contacts := newBulk(db, "contacts", "id", "name", "email", "created_at", "updated_at")
	identities := newBulk(db, "identities", "contact_id", "kind", "scope", "external_id", "name", "created_at")
	convs := newBulk(db, "conversations", "id", "number", "inbox_id", "contact_id", "subject", "status", "priority", "assignee_id",
		"snoozed_until", "preview", "last_message_id", "last_inbound_message_id", "created_at", "updated_at", "last_message_at",
		"last_customer_message_at", "first_response_at", "resolved_at")
	// From migration 0007 on, a tag row carries its conversation's list order and status.
	// They are given here: the trigger that would copy them looks for the conversation,
	// which may still sit in its bulk buffer (and an UPDATE at the end would read the
	// whole table again).
	var tagActivity bool
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) > 0 FROM pragma_table_info('conversation_tags') WHERE name = 'last_message_at'`).Scan(&tagActivity); err != nil {
		return err
	}
	tagCols := []string{"conversation_id", "tag"}
	if tagActivity {
		tagCols = append(tagCols, "last_message_at", "status")
	}
	tags := newBulk(db, "conversation_tags", tagCols...)
	addTag := func(convID int64, tag string, last time.Time, status string) error {
		if tagActivity {
			return tags.add(ctx, convID, tag, formatTime(last), status)
		}
		return tags.add(ctx, convID, tag)
	}
	msgs := newBulk(db, "messages", "id", "conversation_id", "inbox_id", "direction", "author_kind", "author_id", "author_name",
		"text", "external_id", "client_id", "delivery", "created_at")
	all := []*bulk{contacts, identities, convs, tags, msgs}
	defer func() {
		for _, b := range all {
			b.close()
		}
	}()
	commit := func() error {
		for _, b := range all {
			if err := b.flush(ctx); err != nil {
				return fmt.Errorf("insert into %s: %w", b.table, err)
			}
		}
		if err := exec("COMMIT"); err != nil {
			return err
		}
		return exec("BEGIN")
	}

	total := int(float64(g.Conversations) * g.MessagesPer)
	span := 2 * 365 * 24 * time.Hour
	begin := g.Now.Add(-span)
	step := span / time.Duration(g.Conversations)
	var msgID int64
	sinceCommit := 0
	type contactInfo struct {
		name, email string
	}
	contactNames := make([]contactInfo, 0, g.Conversations)
	for i := 0; i < g.Conversations; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		convID := int64(i + 1)
		inbox := gn.inboxes[gn.r.IntN(len(gn.inboxes))]
		created := begin.Add(time.Duration(i)*step + time.Duration(gn.r.Int64N(int64(step)+1)))
		// a third of the conversations come from someone who wrote before
		var contactID int64
		var ci contactInfo
		if gn.contacts > 0 && gn.r.IntN(3) == 0 {
			contactID = 1 + gn.r.Int64N(gn.contacts)
			ci = contactNames[contactID-1]
		} else {
			gn.contacts++
			contactID = gn.contacts
			first, last := genFirst[gn.r.IntN(len(genFirst))], genLast[gn.r.IntN(len(genLast))]
			ci = contactInfo{first + " " + last, fmt.Sprintf("%s.%s%d@%s", strings.ToLower(first), strings.ToLower(last), contactID,
				genDomains[gn.r.IntN(len(genDomains))])}
			contactNames = append(contactNames, ci)
			email := ""
			if inbox.kind == "email" || gn.r.IntN(2) == 0 {
				email = ci.email
			}
			if err := contacts.add(ctx, contactID, ci.name, email, formatTime(created), formatTime(created)); err != nil {
				return err
			}
			kind, scope, ext := "email", "", ci.email
			switch inbox.kind {
			case "chat":
				kind, scope, ext = "visitor", strconv.FormatInt(inbox.id, 10), fmt.Sprintf("gen-visitor-%d", contactID)
			case "messenger":
				kind, scope, ext = "messenger", "gen-page", fmt.Sprintf("psid-%d", contactID)
			case "x":
				kind, ext = "x", fmt.Sprintf("%d", 9000000000+contactID)
			}
			if err := identities.add(ctx, contactID, kind, scope, ext, ci.name, formatTime(created)); err != nil {
				return err
			}
		}

		n := 1
		if g.MessagesPer > 1 {
			n = 1 + gn.r.IntN(int(2*(g.MessagesPer-1))+1)
		}
		var assignee any
		assigneeID := int64(0)
		if gn.r.IntN(10) < 7 {
			assigneeID = 1 + gn.r.Int64N(int64(g.Agents))
			assignee = assigneeID
		}
		at := created
		var firstResp, lastCustomer any
		var lastID, lastInID int64
		var lastText, subject string
		for j := 0; j < n; j++ {
			msgID++
			in := j%2 == 0 || gn.r.IntN(5) == 0
			var text string
			if in {
				text = gn.customerText(j == 0)
			} else {
				text = gn.agentText(ci.name)
			}
			if j == 0 {
				subject = preview(text)
				if r := []rune(subject); len(r) > 80 {
					subject = string(r[:80]) + "…"
				}
				if inbox.kind == "email" {
					subject = genSubjects[gn.r.IntN(len(genSubjects))]
				}
			}
			var ext, cid, delivery, authorID any
			dir, kind, authorName := "in", "contact", ci.name
			if in {
				authorID = contactID
				lastInID = msgID
				lastCustomer = formatTime(at)
				switch inbox.kind {
				case "email":
					ext = fmt.Sprintf("<gen-%d@%s>", msgID, genDomains[int(msgID)%len(genDomains)])
				case "chat":
					cid = fmt.Sprintf("gen-%d", msgID)
				case "messenger", "x":
					ext = fmt.Sprintf("gen-mid-%d", msgID)
				}
			} else {
				dir, kind, delivery = "out", "agent", "sent"
				a := assigneeID
				if a == 0 {
					a = 1 + gn.r.Int64N(int64(g.Agents))
				}
				authorID, authorName = a, genFirst[int(a)%len(genFirst)]
				if firstResp == nil {
					firstResp = formatTime(at)
				}
			}
			if err := msgs.add(ctx, msgID, convID, inbox.id, dir, kind, authorID, authorName, text, ext, cid, delivery, formatTime(at)); err != nil {
				return err
			}
			lastID, lastText = msgID, text
			at = at.Add(time.Duration(1+gn.r.IntN(240)) * time.Minute)
			if at.After(g.Now) {
				at = g.Now
			}
		}
		last := at
		status := "resolved"
		var snoozed, resolved any
		// recent conversations are the ones still open
		age := g.Now.Sub(created)
		switch p := gn.r.IntN(100); {
		case age < 14*24*time.Hour && p < 60, p < 3:
			status = "open"
		case age < 14*24*time.Hour && p < 75, p < 4:
			status = "pending"
		case age < 14*24*time.Hour && p < 80:
			status = "snoozed"
			snoozed = formatTime(g.Now.Add(time.Duration(1+gn.r.IntN(7*24)) * time.Hour))
		}
		if status == "resolved" {
			resolved = formatTime(last.Add(time.Duration(gn.r.IntN(600)) * time.Minute))
		}
		priority := "normal"
		switch p := gn.r.IntN(100); {
		case p < 5:
			priority = "low"
		case p < 17:
			priority = "high"
		case p < 20:
			priority = "urgent"
		}
		if err := convs.add(ctx, convID, 1000+convID, inbox.id, contactID, subject, status, priority, assignee, snoozed,
			preview(lastText), lastID, lastInID, formatTime(created), formatTime(last), formatTime(last), lastCustomer, firstResp, resolved); err != nil {
			return err
		}
		if gn.r.IntN(4) == 0 {
			t1 := genTags[gn.zipfTag()]
			if err := addTag(convID, t1, last, status); err != nil {
				return err
			}
			if gn.r.IntN(3) == 0 {
				if t2 := genTags[gn.zipfTag()]; t2 != t1 {
					if err := addTag(convID, t2, last, status); err != nil {
						return err
					}
				}
			}
		}
		sinceCommit += n
		if sinceCommit >= 200000 {
			if err := commit(); err != nil {
				return err
			}
			sinceCommit = 0
			if g.Progress != nil {
				g.Progress(int(msgID), total)
			}
		}
	}
	if err := commit(); err != nil {
		return err
	}
	if err := exec("COMMIT"); err != nil {
		return err
	}
	if g.Progress != nil {
		g.Progress(int(msgID), total)
	}
	st.Conversations, st.Messages, st.Contacts = g.Conversations, int(msgID), int(gn.contacts)
	return nil
}

func (gn *generator) zipfTag() int {
	// the first tags are common, the last rare
	i := int(gn.r.ExpFloat64() * 4)
	if i >= len(genTags) {
		i = gn.r.IntN(len(genTags))
	}
	return i
}

func (gn *generator) words(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(genVocabulary[gn.zipf.Uint64()])
	}
	return b.String()
}

func (gn *generator) customerText(first bool) string {
	r := gn.r
	var b strings.Builder
	if first {
		b.WriteString(genGreetings[r.IntN(len(genGreetings))])
		b.WriteString(" ")
	}
	tpl := genIssues[r.IntN(len(genIssues))]
	b.WriteString(strings.NewReplacer(
		"{order}", strconv.Itoa(100000+r.IntN(900000)),
		"{product}", genProducts[r.IntN(len(genProducts))],
		"{amount}", strconv.Itoa(5+r.IntN(400)),
		"{sku}", fmt.Sprintf("%s-%04d", genSKU[r.IntN(len(genSKU))], r.IntN(10000)),
		"{city}", genCities[r.IntN(len(genCities))],
		"{day}", genDays[r.IntN(len(genDays))],
	).Replace(tpl))
	b.WriteString(" ")
	b.WriteString(gn.words(4 + r.IntN(14)))
	b.WriteString(".")
	return b.String()
}

func (gn *generator) agentText(name string) string {
	r := gn.r
	first, _, _ := strings.Cut(name, " ")
	tpl := genReplies[r.IntN(len(genReplies))]
	return strings.NewReplacer("{name}", first, "{amount}", strconv.Itoa(5+r.IntN(400)), "{days}", strconv.Itoa(1+r.IntN(7)),
		"{product}", genProducts[r.IntN(len(genProducts))]).Replace(tpl) + " " + gn.words(2+r.IntN(8)) + "."
}

var (
	genFirst    = strings.Fields("Ann Ben Carla David Emma Farid Grace Hugo Ines Jonas Kira Liam Maya Noah Olga Pablo Quinn Rosa Sam Tara Umar Vera Wen Xavi Yara Zoe Amir Bea Chen Dana Elif Femi Greta Hana Ivan Jada Kofi Lena Marta Nils Oskar Priya Raul Sofia Tomas Ulla Viktor Wanda")
	genLast     = strings.Fields("Smith Jones Garcia Müller Rossi Dubois Silva Novak Kowalski Andersen Tanaka Kim Okafor Haddad Ivanova Larsen Costa Bauer Moreau Fischer Weber Schmidt Romano Ferrari Lopez Martin Bernard Petit Jensen Nielsen Horvat Popescu Yilmaz Demir Sato Wang Li Chen Nguyen Tran Singh Patel Khan Ali Ahmed Cohen Levi")
	genDomains  = strings.Fields("example.com example.org example.net mail.example.com shop.example inbox.example")
	genTags     = strings.Fields("billing refund shipping bug login vip feature-request cancellation invoice gdpr account delivery damaged payment subscription api mobile upgrade discount warranty returns security outage onboarding")
	genSKU      = strings.Fields("KB ZX PRO LT HX MX")
	genCities   = strings.Fields("Berlin Lisbon Madrid Paris Warsaw Prague Vienna Dublin Oslo Riga Milan Lyon Porto Munich Ghent")
	genDays     = strings.Fields("Monday Tuesday Wednesday Thursday Friday Saturday Sunday yesterday today")
	genProducts = []string{"Pro plan", "Starter plan", "wireless headphones", "smart kettle", "running shoes", "the mobile app",
		"desk lamp", "gift card", "coffee grinder", "backpack", "yoga mat", "Team plan", "phone case", "smartwatch", "e-reader"}
	genGreetings = []string{"Hi,", "Hello,", "Hey there,", "Good morning,", "Hi team,", "Hello support,", "Dear Kibo team,", "Hallo,", "Bonjour,", "Hi again,"}
	genSubjects  = []string{"Order not received", "Refund request", "Question about my invoice", "Cannot log in", "Damaged item",
		"Cancel my subscription", "Wrong size delivered", "Payment failed", "Data access request", "Change of address", "App keeps crashing",
		"Discount code not working", "Where is my parcel?", "Double charge", "Account locked"}
	genIssues = []string{
		"my order #{order} has not arrived yet and the tracking says it is still in {city}.",
		"I was charged twice for the {product}, could you refund the extra {amount} EUR?",
		"the {product} stopped working after two days, the serial is {sku}.",
		"I can't log in to my account since {day}, the password reset email never comes.",
		"please cancel my subscription to the {product} before the next renewal.",
		"I would like a refund for order #{order}, the {product} arrived damaged.",
		"the invoice for order #{order} shows the wrong VAT number and address.",
		"how do I export all my data from my account?",
		"please delete my account and all personal data you hold about me.",
		"the discount code for the {product} is not accepted at checkout.",
		"I received the wrong size, can I exchange it for a larger one?",
		"the app crashes every time I open the settings page on my phone.",
		"can you change the delivery address of order #{order} to {city}?",
		"my payment of {amount} EUR failed but the money left my bank account.",
		"is the {product} back in stock? I have been waiting since {day}.",
		"the courier left my parcel at the wrong door in {city}.",
	}
	genReplies = []string{
		"Thanks for reaching out, {name}. I have checked your order and it left our warehouse {days} days ago.",
		"Hi {name}, I'm sorry about that. I've issued a refund of {amount} EUR, it should appear within {days} working days.",
		"Hi {name}, could you send us a photo of the damaged {product} so we can arrange a replacement?",
		"Thanks {name}, your subscription is cancelled and you won't be charged again.",
		"Hello {name}, I've reset your login; please try again and let me know if it works.",
		"Hi {name}, I have corrected the invoice and sent the new one to your email address.",
		"Thanks for your patience, {name}. The courier confirmed delivery within {days} days.",
		"Hi {name}, we have received your request and will answer it within one month as the law requires.",
	}
)

// genVocabulary is the long tail of the messages' words; Zipf-distributed, so common
// words are common and rare ones rare, as in real support text.
var genVocabulary = func() []string {
	base := strings.Fields(`the a to and I is it my of for you in not this that have with on was be can but please order
		me your we are at do so if just would like get has from will there what when no an one as all they or any been help
		thanks thank still now account time again after know could need did back here new also only since still got see
		email payment card refund delivery package parcel shipping address invoice price charge charged receipt bank transfer
		login password reset code error screen page app phone update version browser website checkout cart basket discount
		coupon voucher gift size color colour item product box label return exchange replacement warranty broken damaged
		missing wrong late lost tracking courier driver warehouse store shop online support agent manager team customer
		subscription plan monthly yearly renewal cancel cancelled upgrade downgrade trial free premium business team seat
		export import data privacy delete erase personal information request copy gdpr consent marketing newsletter
		unsubscribe spam notification message chat call number contact reply answer question problem issue urgent asap
		today tomorrow yesterday week month morning evening weekend holiday days hours minutes waiting waited wait
		frustrated disappointed happy great good bad terrible awful excellent quick slow fast simple easy hard difficult
		crash crashes crashed freeze frozen bug glitch sync battery charger cable screen keyboard mouse headphones speaker
		kettle lamp shoes jacket shirt dress jeans backpack bottle mat watch strap case cover sleeve pillow blanket towel`)
	out := append([]string(nil), base...)
	// a tail of rarer tokens: product codes, street names, misspellings
	syll := strings.Fields("ka lo mi ren to sa vel dor in ar bel qui zen pho tri gal mon sul fer nix")
	for i := 0; len(out) < 6000; i++ {
		a, b, c := syll[i%len(syll)], syll[(i/len(syll))%len(syll)], syll[(i/(len(syll)*len(syll)))%len(syll)]
		out = append(out, a+b+c)
	}
	return out
}()
