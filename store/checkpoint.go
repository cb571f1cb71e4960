package store

import (
	"database/sql"
	"time"
)

// checkpointer folds the write-ahead log back into the database file off the writer's
// path. SQLite does it, by default, inside the commit that takes the log past 1,000
// pages: at a million conversations that commit writes back pages scattered over a
// 5 GB file, and every acknowledgement queued behind it waits. The writer's automatic
// checkpoint is therefore off, and this goroutine runs a PASSIVE checkpoint (one that
// never waits for the writer or a reader, and copies what it can) on a connection of
// its own, on the other core. The log is reused from its start once a checkpoint has
// copied all of it and no reader still needs it, as with the automatic one.
type checkpointer struct {
	db         *sql.DB
	quit, done chan struct{}
}

const checkpointEvery = 250 * time.Millisecond

func startCheckpointer(db *sql.DB, every time.Duration) *checkpointer {
	db.SetMaxOpenConns(1)
	c := &checkpointer{db: db, quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-c.quit:
				return
			case <-t.C:
				// an error (the database busy with a VACUUM) is tried again next tick
				c.db.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
			}
		}
	}()
	return c
}

func (c *checkpointer) stop() {
	close(c.quit)
	<-c.done
	c.db.Close()
}
