package connectors

import (
	"errors"
	"fmt"
)

// ErrMalformed is matched (errors.Is) by every *MalformedError.
var ErrMalformed = errors.New("malformed")

// MalformedError says a platform's call is not one the channel can take: a body that
// is not JSON, an event of another kind or for another account, a message without the
// ids Kibo needs, a handshake without its token. The webhook answers 400 and stores
// nothing.
type MalformedError struct {
	// What was malformed, for the message: "Messenger webhook", "X webhook".
	What   string
	Reason string
	Err    error
}

func (e *MalformedError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("malformed %s: %s: %v", e.What, e.Reason, e.Err)
	}
	return fmt.Sprintf("malformed %s: %s", e.What, e.Reason)
}

func (e *MalformedError) Unwrap() error { return e.Err }

// Is lets errors.Is(err, ErrMalformed) match.
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }
