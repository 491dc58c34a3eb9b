package invite

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"html/template"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
	"unicode"
)

// DownloadHint is what an invitation says about getting scimdesk when no
// --client-download-url is given: the README's section for users says how.
const DownloadHint = `ask your administrator for the release archive for your system (the scimdesk README, "For your users", says how to check it)`

// Message is one invitation as the user reads it. Code is the only secret in it.
type Message struct {
	From        string    // the --smtp-from address, possibly with a display name
	To          string    // the recipient's bare address
	UserName    string    // the user's SCIM userName
	InvitedBy   string    // the actor who caused the invitation (db.Invitation.InvitedBy)
	ServerURL   string    // the base URL `scimdesk setup --server` takes
	DownloadURL string    // where to get scimdesk; "": DownloadHint
	Code        string    // the setup code, formatted XXXXX-XXXXX-XXXXX-XXXXX; "": sign in instead
	Expires     time.Time // of the code
	Date        time.Time
}

// Subject is the message's subject line.
const Subject = "Finish setting up scimdesk: your setup code"

// Command is the exact command the user runs.
func (m Message) Command() string { return "scimdesk setup --server " + m.ServerURL }

// inviter says who invited the user, in words: the identity provider for SCIM, else the
// admin's name from the audit actor ("cli:ada", "ssh:ada@laptop SHA256:...").
func inviter(actor string) string {
	if actor == "scim" || actor == "" {
		return "Your organisation's identity provider"
	}
	_, name, ok := strings.Cut(actor, ":")
	if !ok {
		name = actor
	}
	if i := strings.Index(name, " SHA256:"); i >= 0 {
		name = name[:i]
	}
	if name = clean(name); name == "" {
		return "Your administrator"
	}
	return "Your administrator (" + name + ")"
}

// clean keeps a value from the identity provider or the admin on one printable line.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	if r := []rune(s); len(r) > 100 {
		s = string(r[:99]) + "…"
	}
	return strings.TrimSpace(s)
}

type view struct {
	Inviter, UserName, To, Command, Code, Download, Expires string
	Link                                                    bool // Download is a URL
	SignIn                                                  bool // no code: sign in with the identity provider
}

func (m Message) view() view {
	return view{
		Inviter:  inviter(m.InvitedBy),
		UserName: clean(m.UserName),
		To:       m.To,
		Command:  clean(m.Command()),
		Code:     m.Code,
		Download: clean(m.DownloadURL),
		Link:     m.DownloadURL != "",
		SignIn:   m.Code == "",
		Expires:  m.Expires.UTC().Format("Monday 2 January 2006, 15:04 UTC"),
	}
}

// The plain text is the message; the HTML says the same.
const textBody = `{{.Inviter}} invited you to finish setting up scimdesk, as {{.UserName}}.

1. Get scimdesk: {{.Download}}

2. In a terminal, run:

       {{.Command}}

3. When asked, give your email address, {{.To}}, and this setup code:

       {{.Code}}

You then choose a passphrase and are shown a recovery key. Your key is made on your
own machine: the server never sees your passphrase or your recovery key.

The code works once, until {{.Expires}}. If it has expired, ask your administrator for a
new one. If you did not expect this message, ignore it: nothing happens without the code.
`

// signInBody is the plain text when users sign in with the identity provider: no code.
const signInBody = `{{.Inviter}} invited you to finish setting up scimdesk, as {{.UserName}}.

1. Get scimdesk: {{.Download}}

2. In a terminal, run:

       {{.Command}}

3. When asked, sign in with your company account ({{.To}}) in your browser: no code is
   needed.

You then choose a passphrase and are shown a recovery key. Your key is made on your
own machine: neither the server nor your identity provider ever sees your passphrase or
your recovery key.

If you did not expect this message, ignore it: nothing happens without your sign-in.
`

const htmlBody = `<!DOCTYPE html>
<html><body style="font-family: sans-serif; line-height: 1.4">
<p>{{.Inviter}} invited you to finish setting up scimdesk, as <b>{{.UserName}}</b>.</p>
<ol>
<li><p>Get scimdesk: {{if .Link}}<a href="{{.Download}}">{{.Download}}</a>{{else}}{{.Download}}{{end}}</p></li>
<li><p>In a terminal, run:</p><pre style="font-size: 1.1em">{{.Command}}</pre></li>
{{if .SignIn}}<li><p>When asked, sign in with your company account ({{.To}}) in your browser: no code is needed.</p></li>
{{else}}<li><p>When asked, give your email address, {{.To}}, and this setup code:</p>
<pre style="font-size: 1.3em; letter-spacing: 0.1em"><b>{{.Code}}</b></pre></li>
{{end}}</ol>
<p>You then choose a passphrase and are shown a recovery key. Your key is made on your own
machine: the server never sees your passphrase or your recovery key.</p>
{{if .SignIn}}<p>If you did not expect this message, ignore it: nothing happens without your sign-in.</p>
{{else}}<p>The code works once, until {{.Expires}}. If it has expired, ask your administrator for a
new one. If you did not expect this message, ignore it: nothing happens without the code.</p>
{{end}}
</body></html>
`

// htmlTmpl escapes every value for HTML; the plain text is filled by execText.
var htmlTmpl = template.Must(template.New("html").Parse(htmlBody))

// Bytes is the message as sent: RFC 5322 headers and a multipart/alternative body of
// plain text and HTML, each quoted-printable.
func (m Message) Bytes() ([]byte, error) {
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return nil, fmt.Errorf("--smtp-from %q: %w", m.From, err)
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return nil, fmt.Errorf("recipient %q: %w", m.To, err)
	}
	v := m.view()
	if !v.Link {
		v.Download = DownloadHint
	}
	var text, html bytes.Buffer
	body := textBody
	if v.SignIn {
		body = signInBody
	}
	if err := execText(&text, body, v); err != nil {
		return nil, err
	}
	if err := htmlTmpl.Execute(&html, v); err != nil {
		return nil, err
	}

	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	hdr := func(k, val string) { fmt.Fprintf(&b, "%s: %s\r\n", k, val) }
	hdr("From", from.String())
	hdr("To", to.String())
	hdr("Subject", mime.QEncoding.Encode("utf-8", Subject))
	hdr("Date", m.Date.Format(time.RFC1123Z))
	hdr("Message-ID", messageID(from.Address))
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "multipart/alternative; boundary="+mw.Boundary())
	b.WriteString("\r\n")
	for _, part := range []struct {
		typ  string
		body []byte
	}{{"text/plain; charset=utf-8", text.Bytes()}, {"text/html; charset=utf-8", html.Bytes()}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {part.typ}, "Content-Transfer-Encoding": {"quoted-printable"}})
		if err != nil {
			return nil, err
		}
		qp := quotedprintable.NewWriter(w)
		if _, err := qp.Write(crlf(part.body)); err != nil {
			return nil, err
		}
		if err := qp.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// execText fills the plain-text template in one pass of plain substitution: html/template
// would escape '&' and '<' in names and URLs, which plain text must show as they are.
func execText(b *bytes.Buffer, body string, v view) error {
	r := strings.NewReplacer("{{.Inviter}}", v.Inviter, "{{.UserName}}", v.UserName, "{{.To}}", v.To,
		"{{.Command}}", v.Command, "{{.Code}}", v.Code, "{{.Download}}", v.Download, "{{.Expires}}", v.Expires)
	_, err := r.WriteString(b, body)
	return err
}

// crlf turns the template's line ends into the CRLF mail wants.
func crlf(b []byte) []byte {
	return bytes.ReplaceAll(bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
}

// messageID is a unique Message-ID in the sender's domain.
func messageID(from string) string {
	raw := make([]byte, 12)
	rand.Read(raw)
	domain := "scimdesk.invalid"
	if _, d, ok := strings.Cut(from, "@"); ok && d != "" {
		domain = d
	}
	return "<" + hex.EncodeToString(raw) + "@" + domain + ">"
}
