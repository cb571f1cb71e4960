package server

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"kibo/store"
)

// apiError is an error with the HTTP status and code docs/API.md names.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Message }

func errBadRequest(format string, args ...any) error {
	return &apiError{fiber.StatusBadRequest, "bad_request", fmt.Sprintf(format, args...)}
}

func errForbidden(msg string) error { return &apiError{fiber.StatusForbidden, "forbidden", msg} }

func errUnauthorized(msg string) error {
	return &apiError{fiber.StatusUnauthorized, "unauthorized", msg}
}

func errNotFound(format string, args ...any) error {
	return &apiError{fiber.StatusNotFound, "not_found", fmt.Sprintf(format, args...)}
}

// errTooManyAttempts is 429 with the wait in Retry-After.
func errTooManyAttempts(c *fiber.Ctx, wait time.Duration) error {
	n := retryAfter(wait)
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(n))
	return &apiError{fiber.StatusTooManyRequests, "rate_limited", fmt.Sprintf("too many wrong passwords: try again in %d s", n)}
}

func errUnprocessable(msg string) error {
	return &apiError{fiber.StatusUnprocessableEntity, "unprocessable", msg}
}

// errorHandler is the one place where errors become HTTP answers: JSON for the API,
// webhooks and anything that asks for JSON, a plain page otherwise.
func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	status, code, msg := fiber.StatusInternalServerError, "internal", "something went wrong on our side; it has been logged"
	var ae *apiError
	var fe *fiber.Error
	var nf *store.NotFoundError
	var ve *store.ValidationError
	var ce *store.ConflictError
	switch {
	case errors.As(err, &ae):
		status, code, msg = ae.Status, ae.Code, ae.Message
	case errors.As(err, &nf):
		status, code, msg = fiber.StatusNotFound, "not_found", nf.Error()
	case errors.As(err, &ve):
		status, code, msg = fiber.StatusUnprocessableEntity, "invalid", ve.Message
	case errors.As(err, &ce):
		status, code, msg = fiber.StatusConflict, "conflict", ce.Message
	case errors.As(err, &fe):
		status, msg = fe.Code, fe.Message
		code = map[int]string{400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
			413: "too_large", 429: "rate_limited", 503: "unavailable"}[fe.Code]
		if code == "" {
			code = "error"
		}
	default:
		s.log.Error("request failed", "method", c.Method(), "path", c.Path(), "err", err)
	}
	if (status == fiber.StatusServiceUnavailable || status == fiber.StatusTooManyRequests) && len(c.Response().Header.Peek(fiber.HeaderRetryAfter)) == 0 {
		c.Set(fiber.HeaderRetryAfter, "2") // unless the handler knows better
	}
	if !strings.HasPrefix(c.Path(), "/api/") && !strings.HasPrefix(c.Path(), "/webhooks/") && strings.Contains(c.Get(fiber.HeaderAccept), "text/html") {
		return c.Status(status).Type("html").SendString("<!doctype html><title>Kibo</title><p style=\"font:16px system-ui;margin:3em\">" +
			templateEscape(msg) + "</p>")
	}
	return c.Status(status).JSON(fiber.Map{"error": fiber.Map{"code": code, "message": msg}})
}

func templateEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}
