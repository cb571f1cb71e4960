package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"kibo/scripts/loadkit"
)

// TestCrashRecoveryAndBackup is the small version of `make crash` and of the backup
// check (scripts/crashtest, scripts/backupcheck): a real kibo binary killed with
// SIGKILL under chat load and restarted, then stopped with SIGTERM, and a backup taken
// under load and restored. It asserts correctness only (0 lost, 0 duplicated, a copy
// that holds everything acknowledged before it began), never a time.
func TestCrashRecoveryAndBackup(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go tool is needed to build the kibo binary")
	}
	loadkit.RaiseNoFile()
	bin, err := loadkit.Build(t.TempDir(), "kibo/cmd/kibo")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	t.Run("sigkill and sigterm", func(t *testing.T) {
		res, err := loadkit.CrashTest(ctx, loadkit.CrashConfig{
			Bin: bin, Data: filepath.Join(t.TempDir(), "data"), Env: []string{"KIBO_CHAT_RATE=200"},
			Visitors: 10, Rate: 10, Kills: 3, MinGap: 300 * time.Millisecond, MaxGap: 900 * time.Millisecond, Term: true,
			Logf: t.Logf,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d kills, %d SIGTERM: %s", res.Kills, res.Terms, res.Check)
		if res.Check.Acked == 0 {
			t.Fatal("no message was acknowledged: the test proved nothing")
		}
		if !res.Check.OK() {
			t.Fatalf("acknowledged messages lost or duplicated: %s", res.Check)
		}
		if res.PendingAtEnd > 0 || res.Check.Unacked > 0 {
			t.Fatalf("%d messages never acknowledged after the last restart: %s", res.PendingAtEnd, res.Check)
		}
	})

	t.Run("backup under load", func(t *testing.T) {
		res, err := loadkit.BackupUnderLoad(ctx, loadkit.BackupConfig{
			Bin: bin, Dir: t.TempDir(), Env: []string{"KIBO_CHAT_RATE=200"},
			Visitors: 10, Rate: 10, Before: 1500 * time.Millisecond, After: 500 * time.Millisecond, Logf: t.Logf,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%+v", res)
		if !res.OK() {
			t.Fatalf("backup check failed: %d acked before the backup, %d missing in the copy, %d duplicated, integrity %q, checksums %s vs %s, restored serves %v, live %s",
				res.AckedBefore, res.MissingInCopy, res.DuplicatedCopy, res.Integrity, res.ChecksumCopy, res.ChecksumLive, res.RestoredServes, res.LiveCheck)
		}
	})
}
