package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"kibo/connectors/mailaddr"
)

// Agent is a person who answers customers.
type Agent struct {
	ID           int64      `json:"id"`
	Email        string     `json:"email"`
	Name         string     `json:"name"`
	Role         string     `json:"role"`
	PasswordHash string     `json:"-"`
	CreatedAt    time.Time  `json:"created_at"`
	DisabledAt   *time.Time `json:"disabled_at"`
}

// IsAdmin tells whether the agent may manage agents, inboxes and settings.
func (a *Agent) IsAdmin() bool { return a.Role == "admin" }

const agentColumns = `id, email, name, role, password_hash, created_at, disabled_at`

func scanAgent(sc interface{ Scan(...any) error }) (*Agent, error) {
	var a Agent
	var created string
	var disabled sql.NullString
	if err := sc.Scan(&a.ID, &a.Email, &a.Name, &a.Role, &a.PasswordHash, &created, &disabled); err != nil {
		return nil, err
	}
	a.CreatedAt = parseTime(created)
	a.DisabledAt = parseNullTime(disabled)
	return &a, nil
}

// CreateAgent adds an agent; the e-mail address must be new.
func (s *Store) CreateAgent(ctx context.Context, email, name, role, passwordHash string) (*Agent, error) {
	if err := CheckLen("email", email, MaxEmailLen); err != nil {
		return nil, err
	}
	email, err := mailaddr.Parse(email)
	if err != nil {
		return nil, invalid("%v", err)
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, invalid("an agent needs a name")
	}
	if err := CheckLen("name", name, MaxNameLen); err != nil {
		return nil, err
	}
	if role != "admin" && role != "agent" {
		return nil, invalid("role must be admin or agent, not %q", role)
	}
	var id int64
	err = s.tx(ctx, func(tx *Tx) error {
		var err error
		id, err = tx.insert(ctx, `INSERT INTO agents(email, name, role, password_hash, created_at) VALUES (?, ?, ?, ?, ?)`,
			email, name, role, passwordHash, formatTime(s.Now()))
		if isUniqueViolation(err) {
			return &ConflictError{Message: "an agent with e-mail " + email + " already exists"}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.Agent(ctx, id)
}

// ConflictError is a write that clashes with what is stored.
type ConflictError struct{ Message string }

func (e *ConflictError) Error() string { return e.Message }
func (e *ConflictError) Unwrap() error { return ErrConflict }

// Agent returns one agent.
func (s *Store) Agent(ctx context.Context, id int64) (*Agent, error) {
	a, err := scanAgent(s.queryRow(ctx, `SELECT `+agentColumns+` FROM agents WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("agent", id)
	}
	return a, err
}

// AgentByEmail finds an agent by e-mail address, case-insensitively.
func (s *Store) AgentByEmail(ctx context.Context, email string) (*Agent, error) {
	a, err := scanAgent(s.queryRow(ctx, `SELECT `+agentColumns+` FROM agents WHERE email = ?`, strings.TrimSpace(email)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("agent", email)
	}
	return a, err
}

// Agents lists every agent.
func (s *Store) Agents(ctx context.Context) ([]*Agent, error) {
	rows, err := s.query(ctx, `SELECT `+agentColumns+` FROM agents ORDER BY name, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Agent
	for rows.Next() {
		a, err := scanAgent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// CountAgents is how many agents exist (zero on a fresh install).
func (s *Store) CountAgents(ctx context.Context) (int, error) {
	var n int
	err := s.queryRow(ctx, `SELECT COUNT(*) FROM agents`).Scan(&n)
	return n, err
}

// AgentUpdate holds the fields to change; nil leaves a field as it is.
type AgentUpdate struct {
	Name         *string
	Role         *string
	PasswordHash *string
	Disabled     *bool
	// KeepSession is the session (its token) that changed the password, kept when
	// every other session ends; empty ends them all.
	KeepSession string
}

// UpdateAgent changes an agent. The last active admin can't be demoted or disabled. A
// new password ends the agent's sessions (but KeepSession) and revokes their API
// tokens, so whoever learnt the old one is out; disabling ends the sessions.
func (s *Store) UpdateAgent(ctx context.Context, id int64, u AgentUpdate) (*Agent, error) {
	err := s.tx(ctx, func(tx *Tx) error {
		a, err := scanAgent(tx.queryRow(ctx, `SELECT `+agentColumns+` FROM agents WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("agent", id)
		}
		if err != nil {
			return err
		}
		if u.Name != nil {
			if strings.TrimSpace(*u.Name) == "" {
				return invalid("an agent needs a name")
			}
			if err := CheckLen("name", strings.TrimSpace(*u.Name), MaxNameLen); err != nil {
				return err
			}
			a.Name = strings.TrimSpace(*u.Name)
		}
		losesAdmin := false
		if u.Role != nil {
			if *u.Role != "admin" && *u.Role != "agent" {
				return invalid("role must be admin or agent, not %q", *u.Role)
			}
			losesAdmin = a.Role == "admin" && *u.Role != "admin"
			a.Role = *u.Role
		}
		var disabled any = nullTime(a.DisabledAt)
		if u.Disabled != nil {
			if *u.Disabled {
				now := s.Now()
				disabled = formatTime(now)
				losesAdmin = losesAdmin || a.Role == "admin"
			} else {
				disabled = nil
			}
		}
		if losesAdmin {
			var admins int
			if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM agents WHERE role = 'admin' AND disabled_at IS NULL AND id <> ?`, id).Scan(&admins); err != nil {
				return err
			}
			if admins == 0 {
				return &ConflictError{Message: "this is the last active admin: make another agent admin first"}
			}
		}
		if u.PasswordHash != nil {
			a.PasswordHash = *u.PasswordHash
			keep := ""
			if u.KeepSession != "" {
				keep = HashToken(u.KeepSession)
			}
			if _, err := tx.exec(ctx, `DELETE FROM sessions WHERE agent_id = ? AND token_hash <> ?`, id, keep); err != nil {
				return err
			}
			if _, err := tx.exec(ctx, `UPDATE api_tokens SET revoked_at = ? WHERE agent_id = ? AND revoked_at IS NULL`, formatTime(s.Now()), id); err != nil {
				return err
			}
		}
		if u.Disabled != nil && *u.Disabled {
			if _, err := tx.exec(ctx, `DELETE FROM sessions WHERE agent_id = ?`, id); err != nil {
				return err
			}
		}
		_, err = tx.exec(ctx, `UPDATE agents SET name = ?, role = ?, password_hash = ?, disabled_at = ? WHERE id = ?`,
			a.Name, a.Role, a.PasswordHash, disabled, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.Agent(ctx, id)
}

// HashToken is how session and API tokens are kept: only their SHA-256, so a copy of
// the database does not log anyone in.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// CreateSession stores a login session.
func (s *Store) CreateSession(ctx context.Context, agentID int64, token, csrf string, ttl time.Duration) error {
	now := s.Now()
	return s.tx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `INSERT INTO sessions(token_hash, agent_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
			HashToken(token), agentID, csrf, formatTime(now), formatTime(now.Add(ttl)))
		return err
	})
}

// SessionAgent returns the agent and CSRF token of a live session.
func (s *Store) SessionAgent(ctx context.Context, token string) (*Agent, string, error) {
	row := s.queryRow(ctx, `SELECT a.id, a.email, a.name, a.role, a.password_hash, a.created_at, a.disabled_at, s.csrf_token
		FROM sessions s JOIN agents a ON a.id = s.agent_id
		WHERE s.token_hash = ? AND s.expires_at > ? AND a.disabled_at IS NULL`, HashToken(token), formatTime(s.Now()))
	var a Agent
	var created string
	var disabled sql.NullString
	var csrf string
	err := row.Scan(&a.ID, &a.Email, &a.Name, &a.Role, &a.PasswordHash, &created, &disabled, &csrf)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", notFound("session", "")
	}
	if err != nil {
		return nil, "", err
	}
	a.CreatedAt = parseTime(created)
	return &a, csrf, nil
}

// DeleteSession logs a session out.
func (s *Store) DeleteSession(ctx context.Context, token string) error {
	return s.tx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `DELETE FROM sessions WHERE token_hash = ?`, HashToken(token))
		return err
	})
}

// APIToken describes a bearer token without its secret.
type APIToken struct {
	ID         int64      `json:"id"`
	AgentID    int64      `json:"agent_id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// CreateAPIToken stores a new token (the caller made the secret and shows it once).
func (s *Store) CreateAPIToken(ctx context.Context, agentID int64, name, token string) (*APIToken, error) {
	if err := CheckLen("name", name, MaxNameLen); err != nil {
		return nil, err
	}
	prefix := token
	if len(prefix) > 8 {
		prefix = prefix[:8]
	}
	var id int64
	now := s.Now()
	err := s.tx(ctx, func(tx *Tx) error {
		var err error
		id, err = tx.insert(ctx, `INSERT INTO api_tokens(agent_id, name, token_hash, prefix, created_at) VALUES (?, ?, ?, ?, ?)`,
			agentID, name, HashToken(token), prefix, formatTime(now))
		return err
	})
	if err != nil {
		return nil, err
	}
	return &APIToken{ID: id, AgentID: agentID, Name: name, Prefix: prefix, CreatedAt: now}, nil
}

// TokenAgent returns the agent a live API token belongs to, and the token's id.
func (s *Store) TokenAgent(ctx context.Context, token string) (*Agent, int64, error) {
	var a Agent
	var created string
	var disabled sql.NullString
	var tokenID int64
	err := s.queryRow(ctx, `SELECT a.id, a.email, a.name, a.role, a.password_hash, a.created_at, a.disabled_at, t.id
		FROM api_tokens t JOIN agents a ON a.id = t.agent_id
		WHERE t.token_hash = ? AND t.revoked_at IS NULL AND a.disabled_at IS NULL`, HashToken(token)).
		Scan(&a.ID, &a.Email, &a.Name, &a.Role, &a.PasswordHash, &created, &disabled, &tokenID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, notFound("token", "")
	}
	if err != nil {
		return nil, 0, err
	}
	a.CreatedAt = parseTime(created)
	a.DisabledAt = parseNullTime(disabled)
	return &a, tokenID, nil
}

// TouchAPITokens records when tokens were last used. The server calls it in batches,
// off the request path, at most about once a minute per token: a write per request
// would cost more than the request.
func (s *Store) TouchAPITokens(ctx context.Context, used map[int64]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *Tx) error {
		for id, at := range used {
			if _, err := tx.exec(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, formatTime(at), id); err != nil {
				return err
			}
		}
		return nil
	})
}

// APITokens lists the live tokens of an agent, or of everyone when agentID is 0.
func (s *Store) APITokens(ctx context.Context, agentID int64) ([]*APIToken, error) {
	rows, err := s.query(ctx, `SELECT id, agent_id, name, prefix, created_at, last_used_at FROM api_tokens
		WHERE revoked_at IS NULL AND (? = 0 OR agent_id = ?) ORDER BY id`, agentID, agentID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*APIToken
	for rows.Next() {
		var t APIToken
		var created string
		var used sql.NullString
		if err := rows.Scan(&t.ID, &t.AgentID, &t.Name, &t.Prefix, &created, &used); err != nil {
			return nil, err
		}
		t.CreatedAt = parseTime(created)
		t.LastUsedAt = parseNullTime(used)
		out = append(out, &t)
	}
	return out, rows.Err()
}

// RevokeAPIToken ends a token; agentID limits it to that agent's tokens unless 0.
func (s *Store) RevokeAPIToken(ctx context.Context, id, agentID int64) error {
	return s.tx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL AND (? = 0 OR agent_id = ?)`,
			formatTime(s.Now()), id, agentID, agentID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("token", id)
		}
		return nil
	})
}
