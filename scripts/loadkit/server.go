package loadkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Kibo is a kibo binary serving one data directory on a loopback port, started and
// stopped by a tool (or a test).
type Kibo struct {
	Bin  string
	Data string
	Addr string   // 127.0.0.1:PORT
	Env  []string // extra KEY=VALUE for serve
	// Token is an admin API token made with `kibo token create` by Setup.
	Token string
	// Log receives serve's output (a file in Data by default).
	Log string

	cmd   *exec.Cmd
	done  chan struct{}
	state *os.ProcessState
	err   error
}

// AdminEmail is the admin Setup creates.
const AdminEmail = "load@kibo.local"

// Build compiles kibo (with the sqlite_fts5 tag) into dir and returns the path. pkg is
// the package to build, "kibo/cmd/kibo" from anywhere inside the module.
func Build(dir, pkg string) (string, error) {
	out := filepath.Join(dir, "kibo")
	cmd := exec.Command("go", "build", "-tags", "sqlite_fts5", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return out, nil
}

// FreeAddr returns a loopback address with a port nobody listens on now.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Base is the server's URL.
func (k *Kibo) Base() string { return "http://" + k.Addr }

// Setup makes an admin and an API token on the (fresh) data directory through the CLI,
// as an operator would: `kibo agent add` and `kibo token create`.
func (k *Kibo) Setup() error {
	if k.Addr == "" {
		a, err := FreeAddr()
		if err != nil {
			return err
		}
		k.Addr = a
	}
	if err := os.MkdirAll(k.Data, 0o700); err != nil {
		return err
	}
	add := exec.Command(k.Bin, "agent", "add", "--email", AdminEmail, "--name", "Load", "--role", "admin", "--password-stdin", "--data", k.Data)
	add.Stdin = strings.NewReader("load-password-" + filepath.Base(k.Data) + "\n")
	add.Env = k.env()
	if b, err := add.CombinedOutput(); err != nil {
		return fmt.Errorf("kibo agent add: %v: %s", err, b)
	}
	tok := exec.Command(k.Bin, "token", "create", "--email", AdminEmail, "--data", k.Data)
	tok.Env = k.env()
	var out, errb bytes.Buffer
	tok.Stdout, tok.Stderr = &out, &errb
	if err := tok.Run(); err != nil {
		return fmt.Errorf("kibo token create: %v: %s", err, errb.String())
	}
	k.Token = strings.TrimSpace(out.String())
	if k.Token == "" {
		return errors.New("kibo token create printed no token")
	}
	return nil
}

func (k *Kibo) env() []string {
	env := append(os.Environ(), "KIBO_ADMIN_PASSWORD=load-password", "KIBO_LOG=text")
	return append(env, k.Env...)
}

// Start runs `kibo serve` and waits until /healthz answers 200.
func (k *Kibo) Start(ctx context.Context) error {
	if k.Log == "" {
		k.Log = filepath.Join(k.Data, "serve.log")
	}
	logf, err := os.OpenFile(k.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(k.Bin, "serve", "--addr", k.Addr, "--data", k.Data)
	cmd.Env = k.env()
	cmd.Stdout, cmd.Stderr = logf, logf
	// a tool that dies (a broken pipe, ^C) takes its server with it
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	k.cmd, k.done, k.state, k.err = cmd, make(chan struct{}), nil, nil
	go func(done chan struct{}) {
		k.err = cmd.Wait()
		k.state = cmd.ProcessState
		logf.Close()
		close(done)
	}(k.done)
	deadline := time.Now().Add(60 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-k.done:
			return fmt.Errorf("kibo serve exited: %v (log: %s)", k.err, k.Log)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if r, err := client.Get(k.Base() + "/healthz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("kibo serve did not become healthy within 60s (log: %s)", k.Log)
}

// Pid is the running server's process id (0 when stopped).
func (k *Kibo) Pid() int {
	if k.cmd == nil || k.cmd.Process == nil {
		return 0
	}
	return k.cmd.Process.Pid
}

// Kill sends SIGKILL and waits for the process to be gone.
func (k *Kibo) Kill() error {
	if k.cmd == nil {
		return nil
	}
	k.cmd.Process.Signal(syscall.SIGKILL)
	<-k.done
	k.cmd = nil
	return nil
}

// Stop sends SIGTERM and waits (up to timeout, then SIGKILL); it returns an error
// when the server did not exit cleanly with status 0.
func (k *Kibo) Stop(timeout time.Duration) error {
	if k.cmd == nil {
		return nil
	}
	k.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-k.done:
	case <-time.After(timeout):
		k.cmd.Process.Signal(syscall.SIGKILL)
		<-k.done
		k.cmd = nil
		return fmt.Errorf("kibo serve did not stop within %s of SIGTERM", timeout)
	}
	k.cmd = nil
	if k.state != nil && !k.state.Success() {
		return fmt.Errorf("kibo serve exited with %v after SIGTERM (log: %s)", k.state, k.Log)
	}
	return nil
}

// Running tells whether the process is alive.
func (k *Kibo) Running() bool {
	if k.cmd == nil {
		return false
	}
	select {
	case <-k.done:
		return false
	default:
		return true
	}
}

// Backup runs `kibo backup --data DIR --out FILE` (while serve runs, as an operator
// would) and returns what it printed.
func (k *Kibo) Backup(out string) (string, error) {
	cmd := exec.Command(k.Bin, "backup", "--data", k.Data, "--out", out)
	cmd.Env = k.env()
	b, err := cmd.CombinedOutput()
	if err != nil {
		return string(b), fmt.Errorf("kibo backup: %v: %s", err, b)
	}
	return strings.TrimSpace(string(b)), nil
}
