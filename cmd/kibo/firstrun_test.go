package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// The first start on an empty data directory prints the admin's login and the demo
// chat inbox's identity secret, once: a site needs that secret to sign its users, and
// nothing shows it again (Settings can only replace it).
func TestFirstRunPrintsTheChatIdentitySecretOnce(t *testing.T) {
	t.Setenv("KIBO_ADMIN_PASSWORD", "")
	t.Setenv("KIBO_ADMIN_EMAIL", "")
	st, err := openStore(filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	var out bytes.Buffer
	if err := firstRun(ctx, st, "http://127.0.0.1:8080", &out); err != nil {
		t.Fatal(err)
	}
	inboxes, err := st.Inboxes(ctx)
	if err != nil || len(inboxes) != 1 || inboxes[0].Kind != "chat" {
		t.Fatalf("inboxes after the first start: %v %v", inboxes, err)
	}
	secret, _ := inboxes[0].Settings["identity_secret"].(string)
	if secret == "" {
		t.Fatal("the demo chat inbox has no identity secret")
	}
	printed := out.String()
	for _, want := range []string{"admin@kibo.local", "password: ", "Identity secret of the chat inbox \"Website\"", secret} {
		if !strings.Contains(printed, want) {
			t.Errorf("the first start does not print %q:\n%s", want, printed)
		}
	}

	out.Reset()
	if err := firstRun(ctx, st, "http://127.0.0.1:8080", &out); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Errorf("a second start printed:\n%s", out.String())
	}
}
