// Package store keeps everything Kibo knows in one SQLite database: plain SQL, one Go
// file per aggregate, no ORM.
//
// SQLite allows one writer at a time, so the store holds one writer connection (all
// writes queue on it, and inbound messages are committed in groups) and a pool of
// readers that never wait for the writer thanks to WAL. Every method that answers an
// HTTP request counts its statements (QueryCount) so tests can prove there is no N+1.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"kibo/store/migrations"
)

// Domain errors; the server maps them to HTTP statuses in one place.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
)

// NotFoundError names what was missing, for a message a person can read.
type NotFoundError struct {
	What string
	ID   any
}

func (e *NotFoundError) Error() string { return fmt.Sprintf("%s %v does not exist", e.What, e.ID) }
func (e *NotFoundError) Unwrap() error { return ErrNotFound }

func notFound(what string, id any) error { return &NotFoundError{What: what, ID: id} }

// ValidationError is bad input from a person or a program, with a message that says
// what to fix.
type ValidationError struct{ Message string }

func (e *ValidationError) Error() string { return e.Message }

func invalid(format string, args ...any) error {
	return &ValidationError{Message: fmt.Sprintf(format, args...)}
}

// Durability is the synchronous setting. FULL makes every acknowledged message
// survive a power cut, not only a crash of the process; NORMAL survives kill -9 but
// may lose the last transactions on power loss.
type Durability string

const (
	DurabilityFull   Durability = "FULL"
	DurabilityNormal Durability = "NORMAL"
)

// Options configure Open.
type Options struct {
	Durability Durability
	// Readers is the size of the read pool.
	Readers int
	// Now is the clock; tests inject one.
	Now func() time.Time
}

// Store is the database. Its methods are safe for concurrent use.
type Store struct {
	path string
	w    *sql.DB // the one writer
	r    *sql.DB // readers
	// ev are the real-time events' own readers (ForEvents), so that telling the
	// agents never waits behind page requests holding every reader
	ev *sql.DB
	// statements are prepared once and reused: SQLite's parser showed as a quarter
	// of the CPU of a chat load test before
	wstmts, rstmts, evstmts *stmtCache
	now                     func() time.Time
	queries                 atomic.Int64
	trace                   atomic.Pointer[func(q string, args []any)]
	ingest                  *ingestQueue
	checkpoints             *checkpointer // checkpoint.go
}

// Open opens (creating when missing) the database in dir, applies migrations and
// refuses a schema newer than this binary knows.
func Open(dir string, opt Options) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	if opt.Durability == "" {
		opt.Durability = DurabilityFull
	}
	if opt.Readers <= 0 {
		opt.Readers = 8
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	path := filepath.Join(dir, "kibo.db")
	base := "file:" + path + "?_journal_mode=WAL&_busy_timeout=10000&_foreign_keys=on&_synchronous=" + string(opt.Durability)
	// The writer's page cache is 64 MB instead of SQLite's 2 MB: each chat message
	// inserts into three indexes keyed by conversation, at a random place in each, and
	// with 2 MB those pages are read back from the OS for nearly every message (closed-
	// loop chat load: 3,789 -> 4,471 acked msg/s, median of 3, BENCHMARKS.md).
	w, err := sql.Open("sqlite3", base+"&_txlock=immediate&_cache_size=-65536")
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	r, err := sql.Open("sqlite3", base+"&mode=ro&_query_only=1")
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(opt.Readers)
	r.SetMaxIdleConns(opt.Readers)
	ev, err := sql.Open("sqlite3", base+"&mode=ro&_query_only=1")
	if err != nil {
		w.Close()
		r.Close()
		return nil, err
	}
	ev.SetMaxOpenConns(eventReaders)
	ev.SetMaxIdleConns(eventReaders)
	s := &Store{path: path, w: w, r: r, ev: ev, now: opt.Now, wstmts: newStmtCache(w), rstmts: newStmtCache(r), evstmts: newStmtCache(ev)}
	if err := s.migrate(context.Background()); err != nil {
		s.Close()
		return nil, err
	}
	// The writer's temporary files in memory: SQLite keeps a statement journal (a copy
	// of every page a statement touches) for each insert or update that fires a
	// trigger (full-text index, tag copies), and past 64 KiB it goes to a temporary
	// file, a write per page: half the writer's time per chat message. Migrations
	// above run before this, so their index builds still sort on disk; VACUUM
	// switches back (see vacuum).
	if _, err := w.Exec(`PRAGMA temp_store = MEMORY`); err != nil {
		s.Close()
		return nil, err
	}
	// Query plans need statistics: without them SQLite guesses, and at a million
	// conversations one of its guesses (an inbox's activity index for a contact's
	// conversation) cost the writer half a second per new visitor. This analyses what
	// has none or has changed much, under a time limit SQLite sets itself; Optimize
	// keeps them fresh while Kibo runs.
	if _, err := w.Exec(`PRAGMA optimize = 0x10002`); err != nil {
		s.Close()
		return nil, fmt.Errorf("optimize: %w", err)
	}
	if _, err := w.Exec(`PRAGMA wal_autocheckpoint = 0`); err != nil {
		s.Close()
		return nil, err
	}
	ck, err := sql.Open("sqlite3", base)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.checkpoints = startCheckpointer(ck, checkpointEvery)
	s.ingest = newIngestQueue(s)
	return s, nil
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Close stops the ingest queue and closes the database.
func (s *Store) Close() error {
	if s.ingest != nil {
		s.ingest.stop()
	}
	if s.checkpoints != nil {
		s.checkpoints.stop()
	}
	s.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	s.wstmts.close()
	s.rstmts.close()
	s.evstmts.close()
	err1 := s.r.Close()
	err2 := s.w.Close()
	return errors.Join(err1, err2, s.ev.Close())
}

// eventReaders is the size of the events' read pool: the publisher and the counts.
const eventReaders = 2

type eventsKey struct{}

// ForEvents marks a context whose reads serve the real-time events: they run on
// connections of their own, which page requests never hold.
func ForEvents(ctx context.Context) context.Context { return context.WithValue(ctx, eventsKey{}, true) }

func (s *Store) readers(ctx context.Context) (*sql.DB, *stmtCache) {
	if ctx.Value(eventsKey{}) != nil {
		return s.ev, s.evstmts
	}
	return s.r, s.rstmts
}

// Ping tells whether the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.r.PingContext(ctx) }

// QueryCount is the number of statements run so far; tests diff it around a call.
func (s *Store) QueryCount() int64 { return s.queries.Load() }

// Optimize refreshes the query planner's statistics where the data has changed enough
// to matter (SQLite decides, and limits the time it spends). Call it every few hours.
func (s *Store) Optimize(ctx context.Context) error {
	_, err := s.w.ExecContext(ctx, `PRAGMA optimize`)
	return err
}

// counted counts a statement about to run, and shows it to the tests that look at
// every statement the store runs (the query-plan test).
func (s *Store) counted(q string, args []any) {
	s.queries.Add(1)
	if trace := s.trace.Load(); trace != nil {
		(*trace)(q, args)
	}
}

// Now is the store's clock.
func (s *Store) Now() time.Time { return s.now().UTC() }

func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	s.counted(q, args)
	db, stmts := s.readers(ctx)
	if st := stmts.get(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return db.QueryContext(ctx, q, args...)
}

func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	s.counted(q, args)
	db, stmts := s.readers(ctx)
	if st := stmts.get(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return db.QueryRowContext(ctx, q, args...)
}

// stmtCache keeps prepared statements by their SQL text. A statement seen for the
// first time runs unprepared while a goroutine prepares it for next time: preparing
// needs a free connection, and the caller may hold the only writer connection in its
// transaction. Queries built from filters come in a bounded number of shapes; past the
// cap a statement simply isn't cached.
type stmtCache struct {
	db      *sql.DB
	mu      sync.RWMutex
	m       map[string]*sql.Stmt
	pending map[string]bool
	closed  bool
	// preparing counts the goroutines preparing a statement: close waits for them, or
	// one would open a connection (and the database's -shm file) after the store closed
	preparing sync.WaitGroup
}

const maxCachedStatements = 512

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sql.Stmt{}, pending: map[string]bool{}}
}

func (c *stmtCache) get(ctx context.Context, q string) *sql.Stmt {
	c.mu.RLock()
	st := c.m[q]
	c.mu.RUnlock()
	if st != nil {
		return st
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.pending[q] || len(c.m)+len(c.pending) >= maxCachedStatements {
		return c.m[q]
	}
	c.pending[q] = true
	c.preparing.Add(1)
	go c.prepare(q)
	return nil
}

func (c *stmtCache) prepare(q string) {
	defer c.preparing.Done()
	st, err := c.db.Prepare(q)
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.pending, q)
	if err != nil {
		return // the unprepared run reports the error to its caller
	}
	if c.closed {
		st.Close()
		return
	}
	c.m[q] = st
}

func (c *stmtCache) close() {
	c.mu.Lock()
	c.closed = true
	for q, st := range c.m {
		st.Close()
		delete(c.m, q)
	}
	c.mu.Unlock()
	c.preparing.Wait()
}

// tx runs fn in one write transaction.
func (s *Store) tx(ctx context.Context, fn func(tx *Tx) error) error {
	sqlTx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	t := &Tx{tx: sqlTx, s: s}
	if err := fn(t); err != nil {
		sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Tx is a write transaction; its helpers count statements like the store's.
type Tx struct {
	tx *sql.Tx
	s  *Store
}

func (t *Tx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	t.s.counted(q, args)
	if st := t.s.wstmts.get(ctx, q); st != nil {
		return t.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, q, args...)
}

// execScript runs SQL that may hold several statements (migrations, savepoints): it is
// never prepared, since a prepared statement holds only the first one.
func (t *Tx) execScript(ctx context.Context, q string) error {
	t.s.counted(q, nil)
	_, err := t.tx.ExecContext(ctx, q)
	return err
}

func (t *Tx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	t.s.counted(q, args)
	if st := t.s.wstmts.get(ctx, q); st != nil {
		return t.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, q, args...)
}

func (t *Tx) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	t.s.counted(q, args)
	if st := t.s.wstmts.get(ctx, q); st != nil {
		return t.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, q, args...)
}

func (t *Tx) insert(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := t.exec(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// ---- migrations (store/migrations)

// SchemaVersion is the newest migration this binary knows.
func SchemaVersion() int {
	ms, _ := migrations.All()
	if len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].Version
}

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("migrations table: %w", err)
	}
	var current int
	if err := s.w.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return err
	}
	ms, err := migrations.All()
	if err != nil {
		return err
	}
	if known := ms[len(ms)-1].Version; current > known {
		return fmt.Errorf("the database schema is version %d but this kibo knows only up to %d: run a newer kibo", current, known)
	}
	// Migrations apply in order and only past the newest recorded one: a database that
	// skipped one below it (a build of unreleased code) would never get it, and run on a
	// schema nobody tested. Say so instead of starting.
	applied := map[int]bool{}
	rows, err := s.w.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return err
		}
		applied[v] = true
	}
	rows.Close()
	for _, m := range ms {
		if m.Version < current && !applied[m.Version] {
			return fmt.Errorf("the database is at schema version %d but never had migration %s: it was made by a build between releases; restore a backup or start from a fresh data directory", current, m.Name)
		}
	}
	for _, m := range ms {
		if m.Version <= current {
			continue
		}
		err := s.tx(ctx, func(tx *Tx) error {
			if err := tx.execScript(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			_, err := tx.exec(ctx, `INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)`, m.Version, m.Name, formatTime(s.Now()))
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Backup writes a consistent copy of the live database to path (VACUUM INTO works on a
// WAL database while writers go on).
func (s *Store) Backup(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err == nil {
		return invalid("%s already exists: choose a new file", path)
	}
	_, err := s.w.ExecContext(ctx, `VACUUM INTO ?`, path)
	return err
}

// Checkpoint folds the WAL into the database file and, with vacuum, rewrites the file
// so deleted rows leave no trace on disk (used after an erasure).
func (s *Store) Checkpoint(ctx context.Context, vacuum bool) error {
	if vacuum {
		if err := s.vacuum(ctx); err != nil {
			return err
		}
	}
	_, err := s.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

// vacuum rewrites the database file without free pages. VACUUM builds the new file
// as a temporary database, which must be on disk: with the writer's temp_store in
// memory a 5 GB database would take 5 GB of RAM.
func (s *Store) vacuum(ctx context.Context) error {
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA temp_store = FILE`); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, `VACUUM`)
	if _, err2 := conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA temp_store = MEMORY`); err == nil {
		err = err2
	}
	return err
}

// ---- time as text

func formatTime(t time.Time) string { return t.UTC().Format(migrations.TimeLayout) }

func nullTime(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return formatTime(*t)
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

func parseNullTime(ns sql.NullString) *time.Time {
	if !ns.Valid || ns.String == "" {
		return nil
	}
	t := parseTime(ns.String)
	return &t
}

func isUniqueViolation(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrConstraint &&
		(se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey)
}

// placeholders returns "?, ?, ?" for n values.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

func int64Args(ids []int64) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}
