package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"kibo/server"
	"kibo/store"
)

// kibo agent passwd sets a new password, and ends the agent's sessions and API
// tokens: the way back in for a lost admin password, and the way out for a leaked one.
func TestAgentPasswd(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	var out bytes.Buffer
	if err := agentAdd([]string{"--data", data, "--email", "ada@example.com", "--name", "Ada", "--role", "admin", "--password-stdin"}, strings.NewReader("old-password\n"), &out); err != nil {
		t.Fatal(err)
	}
	st, err := openStore(data)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := st.AgentByEmail(ctx, "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	token := server.NewAPIToken()
	if _, err := st.CreateAPIToken(ctx, a.ID, "script", token); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateSession(ctx, a.ID, "session-secret", "csrf", time.Hour); err != nil {
		t.Fatal(err)
	}
	st.Close()

	out.Reset()
	if err := agentPasswd([]string{"--data", data, "--email", "ADA@example.com", "--password-stdin"}, strings.NewReader("new-password\n"), &out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "new-password") {
		t.Fatalf("a password from stdin was printed: %s", out.String())
	}
	check := func(password string) {
		t.Helper()
		st, err := openStore(data)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		a, _ := st.AgentByEmail(ctx, "ada@example.com")
		if bcrypt.CompareHashAndPassword([]byte(a.PasswordHash), []byte(password)) != nil {
			t.Fatalf("the new password %q does not sign in", password)
		}
		if _, _, err := st.TokenAgent(ctx, token); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the API token still works: %v", err)
		}
		if _, _, err := st.SessionAgent(ctx, "session-secret"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the session still works: %v", err)
		}
	}
	check("new-password")

	// without --password-stdin it makes one and prints it once
	out.Reset()
	if err := agentPasswd([]string{"--data", data, "--email", "ada@example.com"}, strings.NewReader(""), &out); err != nil {
		t.Fatal(err)
	}
	_, made, ok := strings.Cut(out.String(), "password: ")
	if !ok {
		t.Fatalf("no password printed: %s", out.String())
	}
	check(strings.TrimSpace(made))

	if err := agentPasswd([]string{"--data", data, "--email", "nobody@example.com", "--password-stdin"}, strings.NewReader("whatever-password\n"), &out); err == nil {
		t.Fatal("an unknown agent got a password")
	}
	if err := agentPasswd([]string{"--data", data, "--email", "ada@example.com", "--password-stdin"}, strings.NewReader("short\n"), &out); err == nil {
		t.Fatal("a short password was taken")
	}
}
