package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"
)

// The audit log: who did what to which subject, written in the transaction of the
// change it records. An erasure pseudonymises the rows about the person (erasure.go)
// and an export hands them over (export.go).

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	ID         int64          `json:"id"`
	At         time.Time      `json:"at"`
	ActorKind  string         `json:"actor_kind"`
	ActorID    int64          `json:"actor_id"`
	Action     string         `json:"action"`
	Subject    string         `json:"subject"`
	SubjectRef string         `json:"subject_ref"`
	Detail     map[string]any `json:"detail"`
}

func (t *Tx) audit(ctx context.Context, actorKind string, actorID int64, action, subject, ref string, detail any) error {
	b, err := json.Marshal(detail)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, `INSERT INTO audit_log(at, actor_kind, actor_id, action, subject, subject_ref, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		formatTime(t.s.Now()), actorKind, nullID(actorID), action, subject, ref, string(b))
	return err
}

// Audit writes one audit entry on its own.
func (s *Store) Audit(ctx context.Context, actorKind string, actorID int64, action, subject, ref string, detail any) error {
	return s.tx(ctx, func(tx *Tx) error { return tx.audit(ctx, actorKind, actorID, action, subject, ref, detail) })
}

// AuditLog lists audit entries, newest first; subject and ref filter when set.
func (s *Store) AuditLog(ctx context.Context, subject, ref string, limit int) ([]*AuditEntry, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 500)
	rows, err := s.query(ctx, `SELECT `+auditColumns+` FROM audit_log
		WHERE (? = '' OR subject = ?) AND (? = '' OR subject_ref = ?) ORDER BY id DESC LIMIT ?`, subject, subject, ref, ref, limit)
	if err != nil {
		return nil, err
	}
	return scanAudit(rows)
}

// auditColumns are the columns scanAudit reads, in its order.
const auditColumns = `id, at, actor_kind, COALESCE(actor_id, 0), action, subject, subject_ref, detail`

// scanAudit reads audit rows selected with auditColumns, and closes them.
func scanAudit(rows *sql.Rows) ([]*AuditEntry, error) {
	defer rows.Close()
	out := []*AuditEntry{}
	for rows.Next() {
		var e AuditEntry
		var at, detail string
		if err := rows.Scan(&e.ID, &at, &e.ActorKind, &e.ActorID, &e.Action, &e.Subject, &e.SubjectRef, &detail); err != nil {
			return nil, err
		}
		e.At = parseTime(at)
		json.Unmarshal([]byte(detail), &e.Detail)
		out = append(out, &e)
	}
	return out, rows.Err()
}
