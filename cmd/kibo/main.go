// Command kibo is the whole support desk in one binary: `kibo serve` runs it on an
// embedded SQLite database; the other commands manage agents, tokens and backups.
// docs/CLI.md describes every command and variable; README.md has a quick start.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"kibo/connectors"
	"kibo/connectors/chat"
	"kibo/connectors/email"
	"kibo/connectors/messenger"
	"kibo/connectors/x"
	"kibo/server"
	"kibo/store"
)

const usage = `kibo: a unified customer support inbox

  kibo serve   [--addr 127.0.0.1:8080] [--data ./data]     run the server (creates the data dir)
  kibo migrate [--data DIR]                                 apply migrations and exit
  kibo agent add --email E --name N [--role admin|agent] [--password-stdin]
  kibo agent passwd --email E [--password-stdin]            a new password; ends their sessions and API tokens
  kibo token create --email E [--name N]                    print a new API token for that agent
  kibo backup --data DIR --out FILE                         consistent online copy of the database
  kibo help                                                 this text

Every command takes --data (default $KIBO_DATA, else ./data). Without --password-stdin,
a password is made and printed once.

Environment (a flag wins over its variable; docs/CLI.md has the details):
  KIBO_ADDR, KIBO_DATA             --addr and --data
  KIBO_PUBLIC_URL                  how browsers reach Kibo; https://... makes the session cookie Secure
  KIBO_TRUSTED_PROXIES             reverse proxies (IPs, CIDR ranges) whose X-Forwarded-* headers count
  KIBO_ADMIN_EMAIL, KIBO_ADMIN_PASSWORD
                                   the first admin, made on an empty database
  KIBO_DURABILITY                  full (default) or normal
  KIBO_ALLOW_PRIVATE_HOSTS=true    IMAP, SMTP, platform API and alert webhook hosts may be
                                   loopback or private addresses (tests, a mail server here)
  KIBO_LOG=json                    JSON logs
  KIBO_MAX_INFLIGHT (1024), KIBO_MAX_HEAVY (half the cores), KIBO_HEAVY_WAIT (100ms)
                                   API requests at once; the expensive ones, and their wait
  KIBO_CHAT_RATE (20/s), KIBO_CHAT_MAX_CONNS (20000), KIBO_CHAT_MAX_HANDSHAKES (512 per core),
  KIBO_CHAT_PER_IP_CONNS (100), KIBO_CHAT_NEW_CONVS_PER_MIN (6), KIBO_CHAT_NEW_CONVS_BURST (20)
                                   the widget's limits
  KIBO_PPROF                       an address for Go's pprof, for load tests
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	args := os.Args[2:]
	switch os.Args[1] {
	case "serve":
		err = serve(args)
	case "migrate":
		err = migrate(args)
	case "agent":
		switch {
		case len(args) > 0 && args[0] == "add":
			err = agentAdd(args[1:], os.Stdin, os.Stdout)
		case len(args) > 0 && args[0] == "passwd":
			err = agentPasswd(args[1:], os.Stdin, os.Stdout)
		default:
			err = errors.New("usage: kibo agent add --email E --name N [--role admin|agent] [--password-stdin]\n       kibo agent passwd --email E [--password-stdin]")
		}
	case "token":
		if len(args) == 0 || args[0] != "create" {
			err = errors.New("usage: kibo token create --email E")
		} else {
			err = tokenCreate(args[1:], os.Stdout)
		}
	case "backup":
		err = backup(args)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		err = fmt.Errorf("unknown command %q\n\n%s", os.Args[1], usage)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kibo:", err)
		os.Exit(1)
	}
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return n
	}
	return def
}

// envDuration reads a Go duration ("100ms"); a bad value is an error, so a typo does
// not silently turn a limit off.
func envDuration(name string) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s must be a duration such as 100ms, not %q", name, v)
	}
	return d, nil
}

// envBool reads true/false (also 1/0, yes/no); a bad value is an error, so a typo
// does not silently keep a protection off or on.
func envBool(name string) (bool, error) {
	switch v := strings.ToLower(strings.TrimSpace(os.Getenv(name))); v {
	case "":
		return false, nil
	case "yes", "on":
		return true, nil
	case "no", "off":
		return false, nil
	default:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("%s must be true or false, not %q", name, v)
		}
		return b, nil
	}
}

func dataFlag(fs *flag.FlagSet) *string {
	return fs.String("data", env("KIBO_DATA", "./data"), "data directory (database, attachments)")
}

func openStore(dir string) (*store.Store, error) {
	d := store.DurabilityFull
	if strings.EqualFold(os.Getenv("KIBO_DURABILITY"), "normal") {
		d = store.DurabilityNormal
	}
	return store.Open(dir, store.Options{Durability: d})
}

func newLogger() *slog.Logger {
	if os.Getenv("KIBO_LOG") == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("addr", env("KIBO_ADDR", "127.0.0.1:8080"), "address to listen on")
	data := dataFlag(fs)
	fs.Parse(args)
	log := newLogger()
	allowPrivate, err := envBool("KIBO_ALLOW_PRIVATE_HOSTS")
	if err != nil {
		return err
	}

	st, err := openStore(*data)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	publicURL := env("KIBO_PUBLIC_URL", "http://"+*addr)
	if err := firstRun(ctx, st, publicURL, os.Stdout); err != nil {
		return err
	}
	heavyWait, err := envDuration("KIBO_HEAVY_WAIT")
	if err != nil {
		return err
	}
	srv, err := server.New(server.Config{
		Channels:       channels(),
		Addr:           *addr,
		PublicURL:      os.Getenv("KIBO_PUBLIC_URL"),
		TrustedProxies: strings.FieldsFunc(os.Getenv("KIBO_TRUSTED_PROXIES"), func(r rune) bool { return r == ',' || r == ' ' }),
		MaxInFlight:    envInt("KIBO_MAX_INFLIGHT", 1024),
		MaxHeavy:       envInt("KIBO_MAX_HEAVY", 0),           // 0: half the cores
		HeavyWait:      heavyWait,                             // 0: 100 ms
		MaxHandshakes:  envInt("KIBO_CHAT_MAX_HANDSHAKES", 0), // 0: 512 per core
		// IMAP/SMTP hosts, platform API base URLs and the alerts webhook may be on
		// loopback or private addresses only when the installation says so
		AllowPrivateHosts: allowPrivate,
		Chat: chat.Limits{
			MessagesPerSecond: float64(envInt("KIBO_CHAT_RATE", 20)),
			Burst:             2 * envInt("KIBO_CHAT_RATE", 20),
			MaxConnections:    envInt("KIBO_CHAT_MAX_CONNS", 20000),
			// per remote address (0: the default, negative: off; never for loopback)
			PerIPConnections:          envInt("KIBO_CHAT_PER_IP_CONNS", 0),
			NewConversationsPerMinute: float64(envInt("KIBO_CHAT_NEW_CONVS_PER_MIN", 0)),
			NewConversationsBurst:     envInt("KIBO_CHAT_NEW_CONVS_BURST", 0),
		},
	}, st, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	if pp := os.Getenv("KIBO_PPROF"); pp != "" {
		// profiling for load tests, on its own (loopback) address
		go func() { log.Warn("pprof", "err", http.ListenAndServe(pp, nil)) }()
	}
	srv.Start(ctx)
	errc := make(chan error, 1)
	go func() { errc <- srv.Listen(ln) }()
	log.Info("kibo is running", "addr", "http://"+ln.Addr().String(), "data", *data)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case s := <-sig:
		log.Info("stopping", "signal", s.String())
	case err := <-errc:
		if err != nil {
			return err
		}
	}
	// stop accepting, finish in-flight requests, then close the store (which commits
	// what is queued)
	if err := srv.Shutdown(10 * time.Second); err != nil {
		log.Warn("shutdown", "err", err)
	}
	log.Info("stopped")
	return nil
}

// channels are the channels Kibo runs: one line each. A new channel is its package
// under connectors/ (docs/CHANNELS.md) and its line here.
func channels() *connectors.Registry {
	return connectors.NewRegistry(
		chat.Channel(),
		email.Channel(),
		messenger.Channel(),
		x.Channel(),
	)
}

// firstRun makes the first admin (printing the login once) and a demo chat inbox on
// an empty database, so `kibo serve` alone gives a working desk. The chat inbox's
// identity secret is printed once too: it is what a site signs its users' ids with
// (docs/WIDGET.md), and Settings can only replace it, never show it again.
func firstRun(ctx context.Context, st *store.Store, publicURL string, out io.Writer) error {
	n, err := st.CountAgents(ctx)
	if err != nil || n > 0 {
		return err
	}
	email := env("KIBO_ADMIN_EMAIL", "admin@kibo.local")
	password := os.Getenv("KIBO_ADMIN_PASSWORD")
	printed := password == ""
	if password == "" {
		password = server.NewSecret(12)
	}
	hash, err := server.HashPassword(password)
	if err != nil {
		return err
	}
	if _, err := st.CreateAgent(ctx, email, "Admin", "admin", hash); err != nil {
		return err
	}
	inboxes, err := st.Inboxes(ctx)
	if err != nil {
		return err
	}
	var chatInbox *store.Inbox
	identitySecret := server.NewSecret(32)
	if len(inboxes) == 0 {
		if chatInbox, err = st.CreateInbox(ctx, chat.Kind, "Website", server.NewSecret(18), map[string]any{
			"allowed_origins": []string{}, "brand_color": "#2f6fed", "greeting": "Hi! How can we help?",
			"identity_secret": identitySecret,
		}); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "\n  Kibo is set up. Sign in at %s/login\n", publicURL)
	fmt.Fprintf(out, "    e-mail:   %s\n", email)
	if printed {
		fmt.Fprintf(out, "    password: %s   (shown once: change it in Settings)\n", password)
	} else {
		fmt.Fprintf(out, "    password: from KIBO_ADMIN_PASSWORD\n")
	}
	fmt.Fprintf(out, "  Demo page with the chat widget: %s/demo\n", publicURL)
	if chatInbox != nil {
		fmt.Fprintf(out, "  Identity secret of the chat inbox %q (signs your signed-in visitors: docs/WIDGET.md):\n", chatInbox.Name)
		fmt.Fprintf(out, "    %s   (shown once: Settings → Inboxes makes a new one)\n", identitySecret)
	}
	fmt.Fprintln(out)
	return nil
}

func migrate(args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ExitOnError)
	data := dataFlag(fs)
	fs.Parse(args)
	st, err := openStore(*data)
	if err != nil {
		return err
	}
	fmt.Printf("database at schema version %d\n", store.SchemaVersion())
	return st.Close()
}

func agentAdd(args []string, stdin io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("agent add", flag.ExitOnError)
	email := fs.String("email", "", "e-mail address (the login)")
	name := fs.String("name", "", "name customers see")
	role := fs.String("role", "agent", "admin or agent")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	data := dataFlag(fs)
	fs.Parse(args)
	if *email == "" || *name == "" {
		return errors.New("--email and --name are required")
	}
	password, err := newPassword(*fromStdin, stdin)
	if err != nil {
		return err
	}
	hash, err := server.HashPassword(password)
	if err != nil {
		return err
	}
	st, err := openStore(*data)
	if err != nil {
		return err
	}
	defer st.Close()
	a, err := st.CreateAgent(context.Background(), *email, *name, *role, hash)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "agent %d added: %s (%s)\n", a.ID, a.Email, a.Role)
	if !*fromStdin {
		fmt.Fprintf(out, "password: %s\n", password)
	}
	return nil
}

// newPassword is the first line of stdin, or a random one to print.
func newPassword(fromStdin bool, stdin io.Reader) (string, error) {
	if !fromStdin {
		return server.NewSecret(12), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("no password on standard input")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// agentPasswd sets an agent's password from the shell: the way back in for an admin
// who lost theirs. Like a password change in the app, it ends the agent's sessions and
// revokes their API tokens; a running Kibo closes their open pages at its next check
// (within 30 s).
func agentPasswd(args []string, stdin io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("agent passwd", flag.ExitOnError)
	email := fs.String("email", "", "the agent's e-mail address (their login)")
	fromStdin := fs.Bool("password-stdin", false, "read the new password from the first line of standard input (else one is made and printed)")
	data := dataFlag(fs)
	fs.Parse(args)
	if *email == "" {
		return errors.New("--email is required")
	}
	password, err := newPassword(*fromStdin, stdin)
	if err != nil {
		return err
	}
	hash, err := server.HashPassword(password)
	if err != nil {
		return err
	}
	st, err := openStore(*data)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	a, err := st.AgentByEmail(ctx, *email)
	if err != nil {
		return fmt.Errorf("no agent with e-mail %s", *email)
	}
	if _, err := st.UpdateAgent(ctx, a.ID, store.AgentUpdate{PasswordHash: &hash}); err != nil {
		return err
	}
	if err := st.Audit(ctx, "cli", 0, "agent.update", "agent", strconv.FormatInt(a.ID, 10), map[string]any{"password": true, "via": "kibo agent passwd"}); err != nil {
		return err
	}
	fmt.Fprintf(out, "new password set for agent %d (%s); their sessions and API tokens have ended\n", a.ID, a.Email)
	if a.DisabledAt != nil {
		fmt.Fprintln(out, "note: this agent is disabled; an admin can enable them in Settings → Agents")
	}
	if !*fromStdin {
		fmt.Fprintf(out, "password: %s\n", password)
	}
	return nil
}

func tokenCreate(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("token create", flag.ExitOnError)
	email := fs.String("email", "", "the agent the token acts as")
	name := fs.String("name", "cli", "what the token is for")
	data := dataFlag(fs)
	fs.Parse(args)
	if *email == "" {
		return errors.New("--email is required")
	}
	st, err := openStore(*data)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	a, err := st.AgentByEmail(ctx, *email)
	if err != nil {
		return fmt.Errorf("no agent with e-mail %s", *email)
	}
	tok := server.NewAPIToken()
	if _, err := st.CreateAPIToken(ctx, a.ID, *name, tok); err != nil {
		return err
	}
	fmt.Fprintln(out, tok)
	return nil
}

func backup(args []string) error {
	fs := flag.NewFlagSet("backup", flag.ExitOnError)
	data := dataFlag(fs)
	outPath := fs.String("out", "", "the file to write (must not exist)")
	fs.Parse(args)
	if *outPath == "" {
		return errors.New("--out is required")
	}
	st, err := openStore(*data)
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	if err := st.Backup(context.Background(), *outPath); err != nil {
		return err
	}
	fi, err := os.Stat(*outPath)
	if err != nil {
		return err
	}
	fmt.Printf("backup written to %s (%d bytes) in %s\n", *outPath, fi.Size(), time.Since(start).Round(time.Millisecond))
	return nil
}
