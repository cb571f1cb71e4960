package chat

import "time"

// What one visitor socket or one address may cost the server.

// Limits protect the server from one visitor or one address.
type Limits struct {
	// MessagesPerSecond and Burst limit each visitor connection.
	MessagesPerSecond float64
	Burst             int
	// PerIPConnections caps open sockets per remote address (0: no cap).
	PerIPConnections int
	// MaxConnections caps all widget sockets; past it new ones are refused with a
	// close frame saying so (0: no cap).
	MaxConnections int
	// IdleTimeout closes a socket that has answered nothing (not even a pong) for this
	// long.
	IdleTimeout time.Duration
}

// allow takes a token from the visitor's bucket.
func (ss *session) allow() bool {
	now := time.Now()
	ss.tokens += now.Sub(ss.last).Seconds() * ss.srv.limits.MessagesPerSecond
	ss.last = now
	if max := float64(ss.srv.limits.Burst); ss.tokens > max {
		ss.tokens = max
	}
	if ss.tokens < 1 {
		return false
	}
	ss.tokens--
	return true
}
