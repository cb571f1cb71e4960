package loadkit

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	_ "github.com/mattn/go-sqlite3" // the copy is checked with SQLite itself
)

// BackupConfig is one backup-under-load check.
type BackupConfig struct {
	Bin      string
	Dir      string // work directory: data/, the backup file, restored/
	Env      []string
	Visitors int
	Rate     float64
	// Before and After are how long the load runs before the backup starts and after
	// it ends.
	Before, After time.Duration
	Logf          func(format string, args ...any)
}

// BackupResult is what the check found. The fair claim of an online backup: every
// message acknowledged before the backup began is in the copy (once), the copy passes
// PRAGMA integrity_check, and each message row in the copy is the same row in the live
// database (a checksum over the copy's rows and the live rows with the same ids).
type BackupResult struct {
	BackupMS        float64 `json:"backup_ms"`
	BackupBytes     int64   `json:"backup_bytes"`
	AckedBefore     int     `json:"acked_before_backup"`
	MissingInCopy   int     `json:"acked_before_missing_in_copy"`
	DuplicatedCopy  int     `json:"duplicated_in_copy"`
	CopyMessages    int     `json:"copy_messages"`
	LiveMessages    int     `json:"live_messages"`
	Integrity       string  `json:"integrity_check"`
	ChecksumCopy    string  `json:"checksum_copy"`
	ChecksumLive    string  `json:"checksum_live_same_ids"`
	RestoredServes  bool    `json:"restored_serves"`
	AckedDuringLoad int64   `json:"acked_total"`
	LiveCheck       Check   `json:"live_check"`
}

// OK is the verdict.
func (r BackupResult) OK() bool {
	return r.AckedBefore > 0 && r.MissingInCopy == 0 && r.DuplicatedCopy == 0 && r.Integrity == "ok" &&
		r.ChecksumCopy == r.ChecksumLive && r.RestoredServes && r.LiveCheck.OK()
}

// BackupUnderLoad runs visitors, takes `kibo backup` while they write, restores the
// copy into a fresh data directory, serves it, and compares.
func BackupUnderLoad(ctx context.Context, cfg BackupConfig) (BackupResult, error) {
	var res BackupResult
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	k := &Kibo{Bin: cfg.Bin, Data: filepath.Join(cfg.Dir, "data"), Env: cfg.Env}
	if err := k.Setup(); err != nil {
		return res, err
	}
	if err := k.Start(ctx); err != nil {
		return res, err
	}
	defer k.Kill()
	api := API{Base: k.Base(), Token: k.Token}
	key, err := api.CreateChatInbox("backup")
	if err != nil {
		return res, err
	}
	fleet := &Fleet{Base: k.Base(), Key: key, RunID: NewRunID(), Rate: cfg.Rate, AckTimeout: 3 * time.Second,
		Filler: Filler(100), Track: true}
	gen, stopGen := context.WithCancel(ctx)
	defer stopGen()
	life, stopLife := context.WithCancel(ctx)
	defer stopLife()
	var wg sync.WaitGroup
	for i := 0; i < cfg.Visitors; i++ {
		v := &Visitor{N: i, Fleet: fleet}
		wg.Add(1)
		go func() { defer wg.Done(); v.Run(gen, life) }()
	}
	time.Sleep(cfg.Before)

	// what was acknowledged before the backup began must be in the copy
	ackedBefore := map[string]bool{}
	for _, m := range fleet.Messages() {
		if m.Acked {
			ackedBefore[m.CID] = true
		}
	}
	res.AckedBefore = len(ackedBefore)
	out := filepath.Join(cfg.Dir, "backup.db")
	t := time.Now()
	msg, err := k.Backup(out)
	if err != nil {
		return res, err
	}
	res.BackupMS = float64(time.Since(t).Microseconds()) / 1000
	logf("%s (with %d messages acknowledged before it began)", msg, res.AckedBefore)
	if fi, err := os.Stat(out); err == nil {
		res.BackupBytes = fi.Size()
	}
	time.Sleep(cfg.After)
	stopGen()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		stopLife()
		<-done
	}
	res.AckedDuringLoad = fleet.Acked.Load()
	stored, _, err := api.AllMessages()
	if err != nil {
		return res, err
	}
	res.LiveCheck = Verify(fleet.RunID, fleet.Messages(), stored)
	if err := k.Stop(20 * time.Second); err != nil {
		return res, err
	}

	// restore: the file in place as DATA/kibo.db of a fresh directory (README)
	restored := filepath.Join(cfg.Dir, "restored")
	if err := os.MkdirAll(restored, 0o700); err != nil {
		return res, err
	}
	if err := copyFile(out, filepath.Join(restored, "kibo.db")); err != nil {
		return res, err
	}
	copyDB, err := sql.Open("sqlite3", "file:"+filepath.Join(restored, "kibo.db")+"?mode=ro")
	if err != nil {
		return res, err
	}
	if err := copyDB.QueryRow(`PRAGMA integrity_check`).Scan(&res.Integrity); err != nil {
		copyDB.Close()
		return res, err
	}
	var maxID int64
	copyDB.QueryRow(`SELECT COUNT(*), COALESCE(MAX(id), 0) FROM messages`).Scan(&res.CopyMessages, &maxID)
	res.ChecksumCopy, err = messageChecksum(copyDB, maxID)
	copyDB.Close()
	if err != nil {
		return res, err
	}
	liveDB, err := sql.Open("sqlite3", "file:"+filepath.Join(k.Data, "kibo.db")+"?mode=ro")
	if err != nil {
		return res, err
	}
	liveDB.QueryRow(`SELECT COUNT(*) FROM messages`).Scan(&res.LiveMessages)
	res.ChecksumLive, err = messageChecksum(liveDB, maxID)
	liveDB.Close()
	if err != nil {
		return res, err
	}

	// the restored copy serves, and the API shows every message acked before the backup
	r := &Kibo{Bin: cfg.Bin, Data: restored, Env: cfg.Env, Token: k.Token}
	if r.Addr, err = FreeAddr(); err != nil {
		return res, err
	}
	if err := r.Start(ctx); err != nil {
		return res, fmt.Errorf("serve the restored copy: %w", err)
	}
	defer r.Kill()
	rstored, _, err := API{Base: r.Base(), Token: k.Token}.AllMessages()
	if err != nil {
		return res, fmt.Errorf("read the restored copy through the API: %w", err)
	}
	res.RestoredServes = true
	inCopy := map[string]int{}
	for _, m := range rstored {
		inCopy[m.ClientID]++
	}
	for cid := range ackedBefore {
		if inCopy[cid] == 0 {
			res.MissingInCopy++
		}
	}
	for _, n := range inCopy {
		if n > 1 {
			res.DuplicatedCopy++
		}
	}
	if err := r.Stop(20 * time.Second); err != nil {
		return res, err
	}
	return res, nil
}

// messageChecksum hashes every message row with an id up to maxID, in id order.
func messageChecksum(db *sql.DB, maxID int64) (string, error) {
	rows, err := db.Query(`SELECT id, conversation_id, direction, COALESCE(client_id, ''), text, created_at FROM messages WHERE id <= ? ORDER BY id`, maxID)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	h := sha256.New()
	for rows.Next() {
		var id, conv int64
		var dir, cid, text, created string
		if err := rows.Scan(&id, &conv, &dir, &cid, &text, &created); err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%d\x1f%d\x1f%s\x1f%s\x1f%s\x1f%s\x1e", id, conv, dir, cid, text, created)
	}
	return hex.EncodeToString(h.Sum(nil)), rows.Err()
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
