package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"kibo/connectors"
)

// Only a signed address joins a contact. An address beside a widget hash is kept on a
// contact of its own, marked unverified, and mail from it later does not join that
// contact; a signed one (a JWT's email claim) joins its owner.
func TestOnlyASignedAddressJoinsAContact(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	chat, mail := mustInbox(t, s, "chat"), mustInbox(t, s, "email")
	owner, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: mail.ID, Identity: emailFrom("ann@example.com"), ExternalID: "<1@x>", Text: "hello"}})
	if err != nil {
		t.Fatal(err)
	}
	widget := func(id, email string, signed bool) Ingested {
		t.Helper()
		r, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: chat.ID, ClientID: id, Text: "hi", Identity: connectors.Identity{Kind: "chat_user", Scope: "1",
			ExternalID: id, Name: "Someone", Email: email, EmailVerified: signed, NameUnverified: !signed}}})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := widget("claims-ann", "Ann@Example.com", false); r.ContactID == owner.ContactID {
		t.Error("an unsigned address joined the contact who owns it")
	}
	if r := widget("signed-ann", "ann@example.com", true); r.ContactID != owner.ContactID {
		t.Errorf("a signed address did not join its owner: contact %d, want %d", r.ContactID, owner.ContactID)
	}
	claimer := widget("claims-new", "new@example.com", false)
	ct, err := s.Contact(ctx, claimer.ContactID)
	if err != nil {
		t.Fatal(err)
	}
	if ct.Email != "new@example.com" || ct.EmailVerified || ct.NameVerified || len(ct.Identities) != 1 || ct.Identities[0].Verified {
		t.Errorf("the claimer's contact: %+v, identities %+v", ct, ct.Identities)
	}
	later, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: mail.ID, Identity: emailFrom("new@example.com"), ExternalID: "<2@x>", Text: "the real one"}})
	if err != nil {
		t.Fatal(err)
	}
	if later.ContactID == claimer.ContactID {
		t.Error("mail from an address a visitor only claimed joined the visitor's contact")
	}
}

// The old code trusted the address beside a widget hash: it joined that address's
// contact and made an e-mail identity for it. 0010 turns every such address into an
// unverified attribute (a hash and a JWT can't be told apart afterwards), drops the
// e-mail identity unless mail from it was filed under the contact since, and leaves
// addresses that came by e-mail or from an agent verified.
func TestMigrationTurnsWidgetAddressesUnverified(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := Generate(ctx, dir, GenConfig{Conversations: 5, MessagesPer: 1, SchemaVersion: 9, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "kibo.db")+"?_foreign_keys=on")
	if err != nil {
		t.Fatal(err)
	}
	const t0, t1 = "2026-01-01T00:00:00.000000000Z", "2026-02-01T00:00:00.000000000Z"
	for _, q := range []string{
		// a widget user who claimed someone's address (inbox 1 is a chat, 3 e-mail)
		`INSERT INTO contacts(id, name, email, created_at, updated_at) VALUES (9001, 'Mallory', 'victim@corp.example', '` + t0 + `', '` + t0 + `')`,
		`INSERT INTO identities(contact_id, kind, scope, external_id, name, created_at) VALUES (9001, 'chat_user', '1', 'mallory', 'Mallory', '` + t0 + `')`,
		`INSERT INTO identities(contact_id, kind, scope, external_id, name, created_at) VALUES (9001, 'email', '', 'victim@corp.example', 'Mallory', '` + t0 + `')`,
		// a widget user whose address has written by e-mail since
		`INSERT INTO contacts(id, name, email, created_at, updated_at) VALUES (9002, 'Joe', 'joe@example.com', '` + t0 + `', '` + t0 + `')`,
		`INSERT INTO identities(contact_id, kind, scope, external_id, name, created_at) VALUES (9002, 'chat_user', '1', 'joe', 'Joe', '` + t0 + `')`,
		`INSERT INTO identities(contact_id, kind, scope, external_id, name, created_at) VALUES (9002, 'email', '', 'joe@example.com', 'Joe', '` + t0 + `')`,
		`INSERT INTO conversations(id, number, inbox_id, contact_id, created_at, updated_at, last_message_at) VALUES (9002, 99002, 3, 9002, '` + t1 + `', '` + t1 + `', '` + t1 + `')`,
		// an e-mail contact a widget user joined later
		`INSERT INTO contacts(id, name, email, created_at, updated_at) VALUES (9003, 'Eve', 'eve@example.com', '` + t0 + `', '` + t0 + `')`,
		`INSERT INTO identities(contact_id, kind, scope, external_id, name, created_at) VALUES (9003, 'email', '', 'eve@example.com', 'Eve', '` + t0 + `')`,
		`INSERT INTO identities(contact_id, kind, scope, external_id, name, created_at) VALUES (9003, 'chat_user', '1', 'eve', 'Eve', '` + t1 + `')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	s, err := Open(dir, Options{Durability: DurabilityNormal})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	kinds := func(c *Contact) map[string]*Identity {
		out := map[string]*Identity{}
		for _, i := range c.Identities {
			out[i.Kind] = i
		}
		return out
	}

	mallory, err := s.Contact(ctx, 9001)
	if err != nil {
		t.Fatal(err)
	}
	ids := kinds(mallory)
	if mallory.EmailVerified || mallory.NameVerified || ids["email"] != nil || ids["chat_user"] == nil ||
		ids["chat_user"].Email != "victim@corp.example" || ids["chat_user"].EmailVerified {
		t.Errorf("the claimer after the migration: %+v, identities %v", mallory, ids)
	}
	victim, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: 3, Identity: emailFrom("victim@corp.example"), ExternalID: "<v@x>", Text: "it's me"}})
	if err != nil {
		t.Fatal(err)
	}
	if victim.ContactID == 9001 {
		t.Error("mail from the claimed address still joins the claimer")
	}

	joe, err := s.Contact(ctx, 9002)
	if err != nil {
		t.Fatal(err)
	}
	if ids := kinds(joe); ids["email"] == nil || !ids["email"].EmailVerified || !joe.EmailVerified {
		t.Errorf("an address with mail filed under it lost its e-mail identity: %+v, identities %v", joe, ids)
	}
	eve, err := s.Contact(ctx, 9003)
	if err != nil {
		t.Fatal(err)
	}
	if ids := kinds(eve); !eve.EmailVerified || ids["email"] == nil || !ids["email"].Verified || ids["email"].Email != "eve@example.com" {
		t.Errorf("an e-mail contact: %+v, identities %v", eve, ids)
	}
}
