package email

import (
	"bytes"
	"os"
)

func init() {
	// KIBO_TEST_LOG=1 shows the receivers' logs.
	if os.Getenv("KIBO_TEST_LOG") != "" {
		logOut = os.Stderr
	}
	// A message carrying this header makes the parser panic, to test that a panic is
	// contained. Set here, before any test runs, so that no test races with it.
	testHookParse = func(raw []byte) {
		if bytes.Contains(raw, []byte("X-Test-Parser-Panic: yes")) {
			panic("index out of range [7] with length 3 (simulated)")
		}
	}
}
