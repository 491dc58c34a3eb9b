package scimserver

import (
	"fmt"
	"net/http"
	"strconv"
)

// scimType values of RFC 7644 §3.12.
const (
	errInvalidFilter = "invalidFilter"
	errTooMany       = "tooMany"
	errUniqueness    = "uniqueness"
	errMutability    = "mutability"
	errInvalidSyntax = "invalidSyntax"
	errInvalidPath   = "invalidPath"
	errNoTarget      = "noTarget"
	errInvalidValue  = "invalidValue"
)

// Error is a SCIM error (RFC 7644 §3.12): the one shape every failure takes on the wire.
// Detail is written for the client and the admin; it never carries internal messages.
type Error struct {
	Status   int
	ScimType string
	Detail   string
}

func (e *Error) Error() string {
	if e.ScimType != "" {
		return fmt.Sprintf("%d %s: %s", e.Status, e.ScimType, e.Detail)
	}
	return fmt.Sprintf("%d: %s", e.Status, e.Detail)
}

func (e *Error) body() map[string]any {
	b := map[string]any{
		"schemas": []string{URNError},
		"status":  strconv.Itoa(e.Status), // a string, as RFC 7644 §3.12 says
		"detail":  e.Detail,
	}
	if e.ScimType != "" {
		b["scimType"] = e.ScimType
	}
	return b
}

func badRequest(scimType, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, ScimType: scimType, Detail: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *Error {
	return &Error{Status: http.StatusNotFound, Detail: fmt.Sprintf(format, args...)}
}

func conflict(format string, args ...any) *Error {
	return &Error{Status: http.StatusConflict, ScimType: errUniqueness, Detail: fmt.Sprintf(format, args...)}
}

var errInternal = &Error{Status: http.StatusInternalServerError, Detail: "internal error; the server log has the details"}
