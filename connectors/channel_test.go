package connectors

import (
	"context"
	"errors"
	"strings"
	"testing"

	"kibo/connectors/netguard"
)

func TestAcceptReplyJudgesFilesThenTheChannelsCheck(t *testing.T) {
	night := &Refusal{Code: "night", Reason: "not at night"}
	images := &Channel{Name: "Pigeon", Replies: Replies{Files: true, FileTypes: []string{"image/*", "application/pdf"}, Check: func(d Draft) error {
		if d.Tag == "night" {
			return night
		}
		return nil
	}}}
	textOnly := &Channel{Name: "X"}
	for _, tt := range []struct {
		ch    *Channel
		draft Draft
		want  string // "" accepted, else a piece of the refusal
	}{
		{images, Draft{}, ""},
		{images, Draft{Files: []Attachment{{Filename: "a.png", ContentType: "image/png"}, {Filename: "b.pdf", ContentType: "Application/PDF; name=b.pdf"}}}, ""},
		{images, Draft{Files: []Attachment{{Filename: "a.txt", ContentType: "text/plain"}}}, "Pigeon takes no text/plain files (a.txt)"},
		{images, Draft{Files: []Attachment{{Filename: "x", ContentType: "imagefake/png"}}}, "takes no"},
		{images, Draft{Tag: "night"}, "not at night"},
		{textOnly, Draft{Files: []Attachment{{Filename: "a.png", ContentType: "image/png"}}}, "files can't be sent through X yet"},
		{textOnly, Draft{Tag: "night"}, ""},
	} {
		err := tt.ch.AcceptReply(tt.draft)
		var r *Refusal
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s %+v: refused: %v", tt.ch.Name, tt.draft, err)
		case tt.want != "" && (!errors.As(err, &r) || !strings.Contains(r.Reason, tt.want)):
			t.Errorf("%s %+v: %v, want a refusal saying %q", tt.ch.Name, tt.draft, err, tt.want)
		}
	}
}

func TestRegistry(t *testing.T) {
	r := NewRegistry(Channel{Kind: "a"}, Channel{Kind: "b"})
	if ch, ok := r.Lookup("b"); !ok || ch.Kind != "b" {
		t.Errorf("Lookup(b) = %v, %v", ch, ok)
	}
	if _, ok := r.Lookup("c"); ok {
		t.Error("Lookup(c) found a channel")
	}
	if got := strings.Join(r.Kinds(), ","); got != "a,b" {
		t.Errorf("Kinds = %s", got)
	}
	var none *Registry
	if _, ok := none.Lookup("a"); ok || none.Kinds() != nil {
		t.Error("a nil registry is not empty")
	}
	defer func() {
		if recover() == nil {
			t.Error("a kind registered twice did not panic")
		}
	}()
	r.Register(Channel{Kind: "a"})
}

func TestSettings(t *testing.T) {
	s := Settings{"page_id": " 42 ", "token": "", "imap": map[string]any{"host": "mail"}, "base": "http://127.0.0.1:9"}
	if s.String("page_id") != "42" || s.Section("imap").String("host") != "mail" || s.Section("smtp") != nil {
		t.Errorf("reading %v", s)
	}
	if err := s.Require("page_id", "token"); err == nil || err.Error() != "token is missing" {
		t.Errorf("Require: %v", err)
	}
	ctx := context.Background()
	if err := s.CheckURL(ctx, netguard.Policy{}, "base"); err == nil || !strings.HasPrefix(err.Error(), "base: ") {
		t.Errorf("a loopback base URL: %v", err)
	}
	if err := s.CheckURL(ctx, netguard.Policy{AllowPrivate: true}, "base"); err != nil {
		t.Errorf("allowed: %v", err)
	}
	if err := s.CheckURL(ctx, netguard.Policy{}, "missing"); err != nil {
		t.Errorf("an unset URL: %v", err)
	}
}

func TestStatusReportsChangesOnly(t *testing.T) {
	var got []string
	st := NewStatus(func(up bool, err error) {
		e := ""
		if err != nil {
			e = err.Error()
		}
		got = append(got, map[bool]string{true: "up", false: "down"}[up]+":"+e)
	})
	down := errors.New("refused")
	st.Call(nil, false)
	st.Call(nil, false)
	st.Call(down, true)
	st.Call(down, true)
	st.Call(errors.New("blocked by this one customer"), false) // says nothing about the account
	st.Call(&RetryAfterError{Err: down}, false)
	st.Report(true, nil)
	if want := "up:,down:refused,up:retry after 0s: refused,up:"; strings.Join(got, ",") != want {
		t.Errorf("reports %q, want %q", strings.Join(got, ","), want)
	}
	NewStatus(nil).Report(true, nil) // no listener: nothing to do
}
