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

	// unheard marks a failure of the connection rather than of the request: the client
	// hung up, or its body did not arrive in time. Nothing was changed or decided, so
	// no audit event is written for it (see Server.mutation).
	unheard bool
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

// errClientGone answers a request whose client closed its connection before the change
// was made: nobody reads it, but the status (nginx's "client closed request") says in the
// server's log what happened, instead of a 500.
var errClientGone = &Error{Status: 499, Detail: "the client closed the connection before the change was made; nothing changed", unheard: true}

var errInternal = &Error{Status: http.StatusInternalServerError, Detail: "internal error; the server log has the details"}
