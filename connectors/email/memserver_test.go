package email

import (
	"io"
	"log"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// memServer is go-imap's in-memory IMAP server, for quick unit tests of the receiver.
type memServer struct {
	addr        *net.TCPAddr
	admin       *imapclient.Client
	uidValidity uint32
}

func newMemServer(t testing.TB) *memServer {
	t.Helper()
	mem := imapmemserver.New()
	user := imapmemserver.NewUser("support@example.com", "secret")
	if err := user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(user)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		InsecureAuth: true,
		Logger:       log.New(io.Discard, "", 0),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	s := &memServer{addr: ln.Addr().(*net.TCPAddr)}
	s.admin, err = imapclient.DialInsecure(ln.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.admin.Close() })
	if err := s.admin.Login("support@example.com", "secret").Wait(); err != nil {
		t.Fatal(err)
	}
	s.uidValidity = uidValidity(t, s.admin, "INBOX")
	return s
}

func (s *memServer) append(t testing.TB, raw []byte) { appendMsg(t, s.admin, "INBOX", raw) }

func (s *memServer) config() Config {
	return Config{
		AllowPrivateHosts: true, // the test server listens on loopback
		Address:           "support@example.com",
		IMAP:              ServerConfig{Host: "127.0.0.1", Port: s.addr.Port, TLS: TLSNone, Username: "support@example.com", Password: "secret"},
		PollInterval:      time.Hour,
		ReconnectMin:      20 * time.Millisecond,
		ReconnectMax:      200 * time.Millisecond,
		Timeout:           5 * time.Second,
		Logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}
