package connectors

import (
	"errors"
	"sync"
)

// Status passes a connector's health to its inbox (the OnStatus of a channel's
// config) only when it changes: a platform that fails the same way on every call, or
// a webhook signed wrongly a thousand times, is one report, not a write per call. It is
// safe for concurrent use; a nil report func makes it a no-op.
type Status struct {
	report func(connected bool, err error)

	mu       sync.Mutex
	reported bool
	up       bool
	lastErr  string
}

// NewStatus reports to report (which may be nil).
func NewStatus(report func(connected bool, err error)) *Status {
	return &Status{report: report}
}

// Report says whether the channel works, and the last error that says otherwise.
func (s *Status) Report(up bool, err error) {
	if s == nil || s.report == nil {
		return
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	s.mu.Lock()
	same := s.reported && s.up == up && s.lastErr == msg
	s.reported, s.up, s.lastErr = true, up, msg
	s.mu.Unlock()
	if !same {
		s.report(up, err)
	}
}

// Call reports what a platform API call says about the account: it works (err nil),
// it is down (accountDown: an outage, a revoked token, which the channel judges), or it
// is slowed by a rate limit (up, with the error). Any other refusal is about one
// recipient (blocked, a closed window) and says nothing about the account.
func (s *Status) Call(err error, accountDown bool) {
	var ra *RetryAfterError
	switch {
	case err == nil:
		s.Report(true, nil)
	case accountDown:
		s.Report(false, err)
	case errors.As(err, &ra):
		s.Report(true, err)
	}
}
