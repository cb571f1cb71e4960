package server

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// Reading a request: the route's ids, the query's numbers and limit, the JSON body,
// each with the 400 that says what to send instead.

func paramID(c *fiber.Ctx, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Params(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, errBadRequest("%s must be a positive number, not %q", name, c.Params(name))
	}
	return id, nil
}

func queryInt(c *fiber.Ctx, name string) (int64, error) {
	v := c.Query(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errBadRequest("%s must be a number, not %q", name, v)
	}
	return n, nil
}

// queryLimit reads a list's ?limit=: def when absent, at most max (a bigger one gets
// max, as if the client had asked for what it may have), and a clear 400 for
// anything but a positive number, so that no limit ever means "everything".
func queryLimit(c *fiber.Ctx, def, max int) (int, error) {
	v := c.Query("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil && errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(v, "-") {
		return max, nil
	}
	if err != nil || n < 1 {
		return 0, errBadRequest("limit must be a number from 1 to %d, not %q", max, v)
	}
	return min(n, max), nil
}

// decodeBody reads a JSON body into v, with a clear error for bad JSON.
func decodeBody(c *fiber.Ctx, v any) error {
	body := c.Body()
	if len(body) == 0 {
		return errBadRequest("the request needs a JSON body")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errBadRequest("the body is not valid JSON for this request: %v", err)
	}
	return nil
}

// listQuery reads a list's query numbers and limit, keeping the first error, so a
// handler reads all it takes and checks once.
type listQuery struct {
	c   *fiber.Ctx
	err error
}

func (q *listQuery) int(name string) int64 {
	n, err := queryInt(q.c, name)
	if q.err == nil {
		q.err = err
	}
	return n
}

func (q *listQuery) limit(def, max int) int {
	n, err := queryLimit(q.c, def, max)
	if q.err == nil {
		q.err = err
	}
	return n
}

// patchFields are the keys a PATCH body may carry, each with how its value is taken.
type patchFields map[string]func(raw json.RawMessage) error

// into takes a value as it is.
func into(v any) func(json.RawMessage) error {
	return func(raw json.RawMessage) error { return json.Unmarshal(raw, v) }
}

// decodePatch reads a PATCH body key by key: a bad value is a 400 that names its key,
// an unknown key a 400 written by unknown (a format given the key), which says what
// may be sent instead.
func decodePatch(c *fiber.Ctx, fields patchFields, unknown string) error {
	var raw map[string]json.RawMessage
	if err := decodeBody(c, &raw); err != nil {
		return err
	}
	for key, v := range raw {
		take, ok := fields[key]
		if !ok {
			return errBadRequest(unknown, key)
		}
		if err := take(v); err != nil {
			return errBadRequest("%s: %v", key, err)
		}
	}
	return nil
}
