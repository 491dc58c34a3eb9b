package filtersql

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"scimdesk/db" // also registers golower for every modernc connection
)

const entURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

func ent(path string) string {
	return `json_extract(u.doc, '$."` + entURN + `".` + path + `')`
}

// userSchema mirrors what the SCIM server filters users on, plus a few made-up attributes
// (loginCount, score, hiredAt, certificate) to cover every Kind.
var userSchema = &Schema{
	URN: "urn:ietf:params:scim:schemas:core:2.0:User",
	Attrs: map[string]Column{
		"id":                                    {Expr: "u.id", CaseExact: true},
		"username":                              {Expr: "u.user_name_norm", Folded: true},
		"externalid":                            {Expr: "u.external_id", CaseExact: true},
		"displayname":                           {Expr: "u.display_name"},
		"active":                                {Expr: "u.active", Kind: Boolean},
		"title":                                 {Expr: "json_extract(u.doc, '$.title')"},
		"name":                                  {Expr: "json_extract(u.doc, '$.name')", Kind: Complex},
		"name.givenname":                        {Expr: "u.given_name"},
		"name.familyname":                       {Expr: "u.family_name"},
		"meta.created":                          {Expr: "u.created_at", Kind: DateTime, MillisTime: true},
		"meta.lastmodified":                     {Expr: "u.modified_at", Kind: DateTime, MillisTime: true},
		"logincount":                            {Expr: "json_extract(u.doc, '$.loginCount')", Kind: Integer},
		"score":                                 {Expr: "json_extract(u.doc, '$.score')", Kind: Decimal},
		"hiredat":                               {Expr: "json_extract(u.doc, '$.hiredAt')", Kind: DateTime},
		"certificate":                           {Expr: "json_extract(u.doc, '$.certificate')", Kind: Binary, CaseExact: true},
		strings.ToLower(entURN) + ":department": {Expr: ent("department")},
		strings.ToLower(entURN) + ":employeenumber": {Expr: ent("employeeNumber")},
		strings.ToLower(entURN) + ":manager":        {Expr: ent("manager"), Kind: Complex},
		strings.ToLower(entURN) + ":manager.value":  {Expr: ent("manager.value"), CaseExact: true},
	},
	Multis: map[string]Multi{
		"emails": {
			From: "json_each(u.doc, '$.emails') e",
			Sub: map[string]Column{
				"value":   {Expr: "json_extract(e.value, '$.value')"},
				"type":    {Expr: "json_extract(e.value, '$.type')"},
				"primary": {Expr: "json_extract(e.value, '$.primary')", Kind: Boolean},
			},
			Default: "value",
		},
		"groups": {
			From:  "group_members gm JOIN groups gg ON gg.seq = gm.group_seq",
			Where: "gm.user_seq = u.seq",
			Sub: map[string]Column{
				"value":   {Expr: "gg.id", CaseExact: true},
				"display": {Expr: "gg.display_name"},
			},
			Default: "value",
		},
	},
}

var groupSchema = &Schema{
	URN: "urn:ietf:params:scim:schemas:core:2.0:Group",
	Attrs: map[string]Column{
		"id":           {Expr: "g.id", CaseExact: true},
		"displayname":  {Expr: "g.display_name_norm", Folded: true},
		"externalid":   {Expr: "g.external_id", CaseExact: true},
		"meta.created": {Expr: "g.created_at", Kind: DateTime, MillisTime: true},
	},
	Multis: map[string]Multi{
		"members": {
			From:  "group_members m JOIN users mu ON mu.seq = m.user_seq",
			Where: "m.group_seq = g.seq",
			Sub: map[string]Column{
				"value":   {Expr: "mu.id", CaseExact: true},
				"display": {Expr: "mu.display_name"},
			},
			Default: "value",
		},
	},
}

// The tables mirror db/migrations/0001_init.sql (the columns the filters use).
const testDDL = `
CREATE TABLE users (
    seq            INTEGER PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    user_name      TEXT NOT NULL,
    user_name_norm TEXT NOT NULL UNIQUE,
    external_id    TEXT,
    display_name   TEXT NOT NULL DEFAULT '',
    given_name     TEXT NOT NULL DEFAULT '',
    family_name    TEXT NOT NULL DEFAULT '',
    active         INTEGER NOT NULL DEFAULT 1,
    doc            TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    modified_at    INTEGER NOT NULL
);
CREATE INDEX users_external_id ON users(external_id);
CREATE TABLE groups (
    seq               INTEGER PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    display_name      TEXT NOT NULL,
    display_name_norm TEXT NOT NULL UNIQUE,
    external_id       TEXT,
    doc               TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    modified_at       INTEGER NOT NULL
);
CREATE TABLE group_members (
    group_seq INTEGER NOT NULL REFERENCES groups(seq) ON DELETE CASCADE,
    user_seq  INTEGER NOT NULL REFERENCES users(seq) ON DELETE CASCADE,
    PRIMARY KEY (group_seq, user_seq)
) WITHOUT ROWID;
`

type testUser struct {
	id, userName string
	externalID   any // nil: NULL
	display      string
	given, fam   string
	active       bool
	created      string
	doc          string
}

var testUsers = []testUser{
	{"u1", "alice@example.com", "EXT-1", "Alice Liddell", "Alice", "Liddell", true, "2023-06-01T08:00:00Z", `{
		"title": "Engineer", "loginCount": 5, "score": 4.5, "hiredAt": "2020-01-15T09:00:00Z",
		"certificate": "QUJD",
		"name": {"givenName": "Alice", "familyName": "Liddell"},
		"emails": [{"value": "alice@example.com", "type": "work", "primary": true},
		           {"value": "alice@home.org", "type": "home"}],
		"` + entURN + `": {"department": "Engineering", "employeeNumber": "100", "manager": {"value": "u3"}}}`},
	{"u2", "ÅSA@x.se", "ext-1", "Åsa Öberg", "Åsa", "Öberg", false, "2024-03-01T00:00:00Z", `{
		"title": "", "loginCount": 0, "score": 5, "hiredAt": "2021-06-01T12:00:00+02:00",
		"name": {"givenName": "Åsa", "familyName": "Öberg"},
		"emails": [{"value": "Asa@Work.example.com", "type": "work"}],
		"` + entURN + `": {"department": "sales"}}`},
	{"u3", "bob", nil, "Bob", "Bob", "Builder", true, "2024-06-15T12:30:00.250Z", `{
		"title": "Manager", "loginCount": 12, "score": 3,
		"name": {"givenName": "Bob", "familyName": "Builder"},
		"emails": [],
		"` + entURN + `": {"department": "Engineering", "manager": {}}}`},
	{"u4", "carol@example.com", "EXT-4", `Carol "CJ" Jones`, "Carol", "Liddell", true, "2025-01-01T00:00:00Z", `{
		"name": {}}`},
}

var testGroups = []struct {
	id, display string
	members     []int // user seqs
}{
	{"g1", "Admins", []int{1, 3}},
	{"g2", "Everyone", []int{1, 2, 3, 4}},
	{"g3", "Empty", nil},
}

// openTestDB creates the test tables on a new file in dir and fills them.
func openTestDB(tb testing.TB, dir string) *sql.DB {
	tb.Helper()
	conn, err := sql.Open("sqlite", filepath.Join(dir, "t.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	ctx := context.Background()
	if _, err := conn.ExecContext(ctx, testDDL); err != nil {
		tb.Fatal(err)
	}
	for i, u := range testUsers {
		created, err := time.Parse(time.RFC3339Nano, u.created)
		if err != nil {
			tb.Fatal(err)
		}
		_, err = conn.ExecContext(ctx, `INSERT INTO users (seq, id, user_name, user_name_norm, external_id,
			display_name, given_name, family_name, active, doc, created_at, modified_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, json(?), ?, ?)`,
			i+1, u.id, u.userName, db.Fold(u.userName), u.externalID, u.display, u.given, u.fam,
			u.active, u.doc, created.UnixMilli(), created.UnixMilli())
		if err != nil {
			tb.Fatalf("insert %s: %v", u.id, err)
		}
	}
	for i, g := range testGroups {
		_, err := conn.ExecContext(ctx, `INSERT INTO groups (seq, id, display_name, display_name_norm, external_id,
			doc, created_at, modified_at) VALUES (?, ?, ?, ?, NULL, '{}', 0, 0)`,
			i+1, g.id, g.display, db.Fold(g.display))
		if err != nil {
			tb.Fatal(err)
		}
		for _, m := range g.members {
			if _, err := conn.ExecContext(ctx, `INSERT INTO group_members VALUES (?, ?)`, i+1, m); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return conn
}

// from is the FROM clause of the table a schema filters.
func from(s *Schema) string {
	if s == groupSchema {
		return "groups g"
	}
	return "users u"
}

// matching returns the ids of the rows of s's table that w selects, in seq order.
func matching(ctx context.Context, conn *sql.DB, s *Schema, w db.Where) ([]string, error) {
	q := "SELECT " + strings.SplitN(from(s), " ", 2)[1] + ".id FROM " + from(s)
	if w.SQL != "" {
		q += " WHERE " + w.SQL
	}
	rows, err := conn.QueryContext(ctx, q+" ORDER BY 1", w.Args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ids := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
