package loadkit

import (
	"io"
	"net/http"
	"os"
	"time"
)

// FetchProfile saves a pprof profile from a kibo started with KIBO_PPROF (u is the
// profile's URL; a CPU profile's request lasts as long as its seconds= says).
func FetchProfile(u, path string) error {
	resp, err := (&http.Client{Timeout: 5 * time.Minute}).Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}
