// Package migrations is the store's schema: the numbered SQL files beside this one,
// applied in order and never edited once shipped, and the layout the schema keeps
// times in. It imports nothing of the store, so that whatever builds a database at a
// given version (store.Open, and the test-data generator store/storegen) reads the
// same files.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

//go:embed *.sql
var files embed.FS

// TimeLayout is how every time column is written: UTC, fixed width, so that text
// order is time order and an index on a time column serves ranges.
const TimeLayout = "2006-01-02T15:04:05.000000000Z"

// Migration is one file: its number, its file name and its SQL.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// All returns the migrations in the order they apply.
func All() ([]Migration, error) {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number", e.Name())
		}
		b, err := files.ReadFile(e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{v, e.Name(), string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}
