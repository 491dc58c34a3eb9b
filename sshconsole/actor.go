package sshconsole

import (
	"strings"
	"unicode/utf8"

	"scimdesk/termsafe"
)

// maxComment bounds the key comment kept in the audit log's actor: the comment is free text
// in the authorized-keys file, and the actor is shown in narrow table cells.
const maxComment = 64

// Actor names the admin of an SSH session in the audit log: "ssh:", the comment of the
// authorized key that let them in (cleaned of control characters and cut to a bounded
// length) and the key's SHA256 fingerprint, which identifies it even when comments repeat.
func Actor(comment, fingerprint string) string {
	c := termsafe.Clean(strings.ToValidUTF8(comment, "�"))
	c = strings.Join(strings.Fields(c), " ")
	if utf8.RuneCountInString(c) > maxComment {
		c = string([]rune(c)[:maxComment-1]) + "…"
	}
	if c == "" {
		return "ssh:" + fingerprint
	}
	return "ssh:" + c + " " + fingerprint
}
