// Package filtersql translates a SCIM filter (RFC 7644 §3.4.2.2) into a parameterised SQL
// condition over an allow-list of attributes, for db.ListUsers and db.ListGroups.
//
// The caller describes, per resource type, which attributes may be filtered on and which
// SQL expression holds each one (a Schema); Translate parses the filter and returns a
// db.Where whose SQL text is made only of those expressions, operators, constants of this
// package and "?" placeholders. Every value from the filter travels in Where.Args.
//
// # Semantics
//
//   - eq ne co sw ew gt ge lt le pr, and, or, not, parentheses; "and" binds tighter than
//     "or". Attribute names, operators and the literals true/false/null are
//     case-insensitive, and attributes may carry the schema URN as a prefix.
//   - Strings compare case-insensitively (Unicode lower case, db.Fold) unless the
//     attribute is caseExact.
//   - A comparison on an absent attribute (SQL NULL) is false, and so "ne" and "not"
//     match resources that lack the attribute: "title ne "x"" includes users without a
//     title. "pr" is false for NULL, the empty string and (for complex attributes) an
//     empty JSON object or array. "eq null" is "not pr", "ne null" is "pr".
//   - A comparison on a multi-valued attribute ("emails.value co "@x"", "emails eq "x"",
//     which uses Multi.Default) holds when some element satisfies it; "emails pr" holds
//     when there is an element. "ne" also holds when no element has the sub-attribute
//     ("absent"), like for single-valued attributes.
//   - A value filter ("emails[type eq "work" and value co "@x"]") holds when one element
//     satisfies the whole bracket filter (any filter: and, or, not, parentheses). It may
//     be followed by a sub-attribute comparison ("emails[type eq "work"].value eq "a@x"",
//     a form RFC 7644 has in PATCH paths but not in filters, accepted because clients
//     reuse one as the other), which must then hold for that same element.
//   - Booleans take true/false or the strings "true"/"false" in any case (Entra sends
//     "False"); dateTime values must be RFC 3339; integer and decimal values must be
//     JSON numbers.
//
// An attribute that is not in the Schema, an operator that does not apply to an
// attribute's type, a value of the wrong type, a syntax error, or a filter beyond the
// limits (MaxLength, MaxDepth, MaxComparisons) is an error wrapping ErrInvalidFilter whose
// detail is safe to show to the client. An unknown attribute is an error even where it
// could not change the result (inside an "or"), so that a typo never matches everything.
package filtersql

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	filter "github.com/scim2/filter-parser/v2"

	"scimdesk/db"
)

// Limits on a filter, against clients (or attackers) that send filters costing more to
// parse and to run than any real query needs. Exceeding one is "filter too complex".
const (
	// MaxLength is the longest filter accepted, in bytes.
	MaxLength = 4096
	// MaxDepth is the deepest nesting of parentheses and value-filter brackets.
	MaxDepth = 32
	// MaxComparisons is the most attribute comparisons (and value filters) in a filter.
	MaxComparisons = 100
)

// Kind is an attribute's SCIM data type (RFC 7643 §2.3); it decides which operators and
// values a comparison accepts and how it is written in SQL.
type Kind int

// The attribute kinds. String is the zero value.
const (
	// String compares as text: case-insensitively unless Column.CaseExact.
	String Kind = iota
	// Boolean accepts eq, ne and pr with true/false; Expr holds 0/1 (SQLite's JSON
	// functions return JSON true/false as 1/0).
	Boolean
	// DateTime accepts RFC 3339 values; see Column.MillisTime for the stored form.
	DateTime
	// Integer compares numerically.
	Integer
	// Decimal compares numerically.
	Decimal
	// Reference is a URI (e.g. "$ref"); it compares like String.
	Reference
	// Binary is base64 text; only eq, ne and pr apply.
	Binary
	// Complex is a single-valued complex attribute as a whole (e.g. "name", the
	// enterprise "manager"), whose Expr yields its JSON text; only pr applies.
	Complex
)

// String is the kind's name as RFC 7643 spells it, for error details.
func (k Kind) String() string {
	switch k {
	case String:
		return "string"
	case Boolean:
		return "boolean"
	case DateTime:
		return "dateTime"
	case Integer:
		return "integer"
	case Decimal:
		return "decimal"
	case Reference:
		return "reference"
	case Binary:
		return "binary"
	case Complex:
		return "complex"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Column is a single-valued attribute, or a sub-attribute of the elements of a
// multi-valued one.
type Column struct {
	// Expr is the SQL expression that holds the value, e.g. "u.user_name_norm" or
	// `json_extract(u.doc, '$.title')`; NULL means absent. It is pasted into the SQL, so
	// it must come from the program, never from a request. Comparisons on it use
	// SQLite's default BINARY collation.
	Expr string
	// Kind is the attribute's type.
	Kind Kind
	// CaseExact makes string comparisons exact (SCIM caseExact); otherwise they compare
	// the Unicode lower case of both sides, with the SQL function golower (registered by
	// package db) on Expr.
	CaseExact bool
	// Folded says that Expr already holds db.Fold of the value (a *_norm column), so a
	// case-insensitive comparison is "Expr = ?" with the folded value and can use an
	// index. It implies case-insensitive comparison whatever CaseExact says.
	Folded bool
	// MillisTime says that a DateTime Expr holds Unix milliseconds (INTEGER); otherwise it
	// holds RFC 3339 text, which is compared after normalising both sides to UTC.
	MillisTime bool
}

// Multi is a multi-valued attribute. A filter on it is an EXISTS over its elements:
//
//	EXISTS (SELECT 1 FROM <From> WHERE <Where> AND <condition on the element>)
type Multi struct {
	// From is the FROM body that yields one row per element, e.g.
	// `json_each(u.doc, '$.emails') e` or "group_members m JOIN users mu ON mu.seq = m.user_seq".
	From string
	// Where is an optional correlation with the outer row, e.g. "m.group_seq = g.seq".
	Where string
	// Sub maps a lower-cased sub-attribute name to its Column over the element, e.g.
	// "value" -> {Expr: "json_extract(e.value, '$.value')"}. A multi-valued attribute of
	// a simple type can map "value" to the element itself ("e.value"). An Expr must not
	// fail on any element the data can hold: json_extract on an element of json_each that
	// is not an object fails the whole query ("malformed JSON"), so unless documents are
	// validated on write, guard it: "CASE WHEN e.type = 'object' THEN e.value ->> '$.value' END".
	Sub map[string]Column
	// Default is the sub-attribute compared when a filter names the attribute alone
	// ("emails eq "a@x""); RFC 7644 says "value". Empty: such a filter is an error.
	Default string
}

// Schema is the allow-list of one resource type: the only attributes a filter may name.
type Schema struct {
	// URN is the core schema URN, e.g. "urn:ietf:params:scim:schemas:core:2.0:User";
	// attributes may be prefixed with it ("urn:...:User:userName").
	URN string
	// Attrs maps a lower-cased attribute path to its Column: "username", "name.givenname",
	// "meta.created", and extension attributes under their full URN,
	// "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:department" or
	// "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:manager.value". A path
	// here takes precedence over a Multi of the same name.
	Attrs map[string]Column
	// Multis maps a lower-cased multi-valued attribute name ("emails", "members",
	// extension ones under their URN) to its elements.
	Multis map[string]Multi
	// Postgres says the SQL is for PostgreSQL rather than SQLite. The translation is the
	// same but for the few string functions the two spell differently; the Exprs of the
	// schema must be written for that engine too.
	Postgres bool
}

// ErrInvalidFilter is wrapped by every error Translate returns for a bad filter. The
// error is an *Error, whose Detail is safe to show a client: it becomes the detail of a
// SCIM 400 invalidFilter response.
var ErrInvalidFilter = errors.New("invalid filter")

// Error is a bad filter. It wraps ErrInvalidFilter.
type Error struct {
	// Detail says what is wrong, in terms of the filter as the client wrote it (a
	// position is counted in characters from 1).
	Detail string
}

// Error returns "invalid filter: " and the detail.
func (e *Error) Error() string { return ErrInvalidFilter.Error() + ": " + e.Detail }

// Unwrap makes errors.Is(err, ErrInvalidFilter) hold.
func (e *Error) Unwrap() error { return ErrInvalidFilter }

func invalid(format string, args ...any) error {
	return &Error{Detail: fmt.Sprintf(format, args...)}
}

func tooComplex(why string) error {
	return &Error{Detail: "filter too complex: " + why}
}

// shown shortens what the client wrote before it is echoed in an error detail.
func shown(s string) string {
	const limit = 64
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	return string([]rune(s)[:limit]) + "…"
}

func unsupported(name string) error {
	return invalid("unsupported attribute in filter: %s", shown(name))
}

// Translate parses filter and translates it into a condition over the attributes of s.
// An empty (or blank) filter gives an empty Where and no error: whether that means
// "everything" is the caller's decision. Every error for a bad filter wraps
// ErrInvalidFilter (see Error); the only other error is a nil s.
//
// Translate has no state and is safe for concurrent use, with s not modified meanwhile.
func Translate(filter string, s *Schema) (db.Where, error) {
	if s == nil {
		return db.Where{}, errors.New("filtersql: nil schema")
	}
	if len(filter) > MaxLength {
		return db.Where{}, tooComplex(fmt.Sprintf("longer than %d bytes", MaxLength))
	}
	if strings.Trim(filter, " \t\r\n") == "" {
		return db.Where{}, nil
	}
	filter = quoteBare(filter)
	t := translator{s: s, urn: strings.ToLower(s.URN)}
	root := fastParse(filter)
	if root == nil {
		p, err := parse(filter)
		if err != nil {
			return db.Where{}, err
		}
		root, t.vps = p.root, p.vps
	}
	f, err := t.cond(root, scope{}, false)
	if err != nil {
		return db.Where{}, err
	}
	return db.Where{SQL: f.sql, Args: f.args}, nil
}

// frag is a piece of SQL with the arguments of its placeholders, in order. Pieces carry
// their own arguments (rather than appending to one list) because some are used twice.
type frag struct {
	sql  string
	args []any
}

func concat(fs ...frag) []any {
	var n int
	for _, f := range fs {
		n += len(f.args)
	}
	if n == 0 {
		return nil
	}
	out := make([]any, 0, n)
	for _, f := range fs {
		out = append(out, f.args...)
	}
	return out
}

// logical joins conditions with AND or OR; empty ones are left out.
func logical(op string, fs ...frag) frag {
	var parts []string
	var kept []frag
	for _, f := range fs {
		if f.sql != "" {
			parts = append(parts, f.sql)
			kept = append(kept, f)
		}
	}
	switch len(parts) {
	case 0:
		return frag{}
	case 1:
		return kept[0]
	}
	return frag{"(" + strings.Join(parts, " "+op+" ") + ")", concat(kept...)}
}

// scope is where attribute names in a (sub-)filter are looked up.
type scope struct {
	multi   *Multi // inside the brackets of a multi-valued attribute: its sub-attributes
	complex string // inside the brackets of a single-valued complex attribute: its key
	name    string // the bracketed attribute as written, for error details
}

type translator struct {
	s    *Schema
	urn  string // lower-cased s.URN
	vps  []valuePath
	seen int // comparisons translated so far
}

// cond translates e. With neg it translates "not e", pushing the negation down to the
// comparisons (De Morgan) so that each one is negated knowing how its attribute can be
// absent; NOT over an SQL NULL would otherwise drop resources that lack the attribute.
func (t *translator) cond(e filter.Expression, sc scope, neg bool) (frag, error) {
	switch e := e.(type) {
	case *filter.LogicalExpression:
		if e == nil || e.Left == nil || e.Right == nil {
			return frag{}, invalid("syntax error")
		}
		l, err := t.cond(e.Left, sc, neg)
		if err != nil {
			return frag{}, err
		}
		r, err := t.cond(e.Right, sc, neg)
		if err != nil {
			return frag{}, err
		}
		and := strings.EqualFold(string(e.Operator), string(filter.AND))
		if and != neg {
			return frag{"(" + l.sql + " AND " + r.sql + ")", concat(l, r)}, nil
		}
		return frag{"(" + l.sql + " OR " + r.sql + ")", concat(l, r)}, nil
	case *filter.NotExpression:
		if e == nil || e.Expression == nil {
			return frag{}, invalid("syntax error")
		}
		return t.cond(e.Expression, sc, !neg)
	case *filter.AttributeExpression:
		if e == nil {
			return frag{}, invalid("syntax error")
		}
		return t.attr(e, sc, neg)
	case *filter.ValuePath:
		// The pre-pass takes every value filter out of the text, so the parser only sees
		// one if brackets nest, which the pre-pass rejects too.
		return frag{}, invalid("value filters cannot be nested")
	}
	return frag{}, invalid("syntax error")
}

// attr translates one comparison, "attrPath op value" or "attrPath pr".
func (t *translator) attr(e *filter.AttributeExpression, sc scope, neg bool) (frag, error) {
	t.seen++
	if t.seen > MaxComparisons {
		return frag{}, tooComplex(fmt.Sprintf("more than %d comparisons", MaxComparisons))
	}
	op := filter.CompareOperator(strings.ToLower(string(e.Operator)))
	v, err := value(e.CompareValue)
	if err != nil {
		return frag{}, err
	}
	path := e.AttributePath
	if v == nil && op != filter.PR {
		// RFC 7644 leaves comparing with null open; "absent" is the one reading that
		// cannot widen a result by surprise.
		switch op {
		case filter.EQ:
			op, neg = filter.PR, !neg
		case filter.NE:
			op = filter.PR
		default:
			return frag{}, invalid("null can only be compared with eq or ne (in %s)", shown(path.String()))
		}
	}

	switch {
	case sc.multi != nil, sc.complex != "":
		if path.URIPrefix != nil || path.SubAttribute != nil {
			return frag{}, unsupported(sc.name + "." + path.String())
		}
		name := sc.name + "." + path.AttributeName
		sub := strings.ToLower(path.AttributeName)
		if sc.multi != nil {
			col, ok := sc.multi.Sub[sub]
			if !ok {
				return frag{}, unsupported(name)
			}
			return column(col, name, op, v, neg, t.s.Postgres)
		}
		col, ok := t.s.Attrs[sc.complex+"."+sub]
		if !ok {
			return frag{}, unsupported(name)
		}
		return column(col, name, op, v, neg, t.s.Postgres)
	case path.URIPrefix == nil && strings.HasPrefix(path.AttributeName, placeholderPrefix):
		vp, ok := t.placeholder(path.AttributeName)
		if !ok {
			return frag{}, unsupported(path.AttributeName)
		}
		return t.valuePath(vp, path.SubAttribute, op, v, neg)
	}

	key, sub := t.key(path)
	if sub != "" {
		if col, ok := t.s.Attrs[key+"."+sub]; ok {
			return column(col, path.String(), op, v, neg, t.s.Postgres)
		}
	} else if col, ok := t.s.Attrs[key]; ok {
		return column(col, path.String(), op, v, neg, t.s.Postgres)
	}
	if m, ok := t.s.Multis[key]; ok {
		return t.multi(&m, t.display(path), path.SubAttributeName(), frag{}, op, v, neg)
	}
	return frag{}, unsupported(path.String())
}

// key is the lower-cased lookup key of path's attribute (with the URN of an extension,
// without the core one) and its lower-cased sub-attribute.
func (t *translator) key(path filter.AttributePath) (key, sub string) {
	key = strings.ToLower(path.AttributeName)
	if path.URIPrefix != nil {
		if uri := strings.ToLower(*path.URIPrefix); uri != t.urn {
			key = uri + ":" + key
		}
	}
	if path.SubAttribute != nil {
		sub = strings.ToLower(*path.SubAttribute)
	}
	return key, sub
}

// display is path's attribute without its sub-attribute, as written.
func (t *translator) display(path filter.AttributePath) string {
	path.SubAttribute = nil
	return path.String()
}

func (t *translator) placeholder(name string) (valuePath, bool) {
	i, err := strconv.ParseUint(name[len(placeholderPrefix):], 36, 16)
	if err != nil || i >= uint64(len(t.vps)) {
		return valuePath{}, false
	}
	return t.vps[i], true
}

// valuePath translates "attr[filter]" (op is then pr, from the placeholder) or
// "attr[filter].sub op value".
func (t *translator) valuePath(vp valuePath, subAttr *string, op filter.CompareOperator, v any, neg bool) (frag, error) {
	if vp.path.SubAttribute != nil {
		return frag{}, invalid("a value filter must follow a multi-valued attribute, not %s", shown(vp.path.String()))
	}
	key, _ := t.key(vp.path)
	name := vp.path.String()
	if m, ok := t.s.Multis[key]; ok {
		inner, err := t.cond(vp.filter, scope{multi: &m, name: name}, false)
		if err != nil {
			return frag{}, err
		}
		if subAttr == nil {
			return negate(exists(&m, inner), neg), nil
		}
		return t.multi(&m, name, *subAttr, inner, op, v, neg)
	}
	if !t.isComplex(key) {
		return frag{}, unsupported(name)
	}
	// A single-valued complex attribute: "name[givenName eq "a"]" is "name.givenName eq "a"".
	inner, err := t.cond(vp.filter, scope{complex: key, name: name}, neg)
	if err != nil || subAttr == nil {
		return inner, err
	}
	col, ok := t.s.Attrs[key+"."+strings.ToLower(*subAttr)]
	if !ok {
		return frag{}, unsupported(name + "." + *subAttr)
	}
	c, err := column(col, name+"."+*subAttr, op, v, neg, t.s.Postgres)
	if err != nil {
		return frag{}, err
	}
	if neg {
		return logical("OR", inner, c), nil
	}
	return logical("AND", inner, c), nil
}

func (t *translator) isComplex(key string) bool {
	if c, ok := t.s.Attrs[key]; ok && c.Kind == Complex {
		return true
	}
	for k := range t.s.Attrs {
		if strings.HasPrefix(k, key+".") {
			return true
		}
	}
	return false
}

// multi translates a comparison on the elements of m that satisfy filt (all when empty):
// on sub-attribute sub (as written), or, when sub is empty, on m.Default ("pr": on the
// elements themselves).
func (t *translator) multi(m *Multi, name, sub string, filt frag, op filter.CompareOperator, v any, neg bool) (frag, error) {
	if sub == "" {
		if op == filter.PR {
			return negate(exists(m, filt), neg), nil
		}
		sub = m.Default
		if sub == "" {
			return frag{}, invalid("%s needs a sub-attribute, like %s.value", shown(name), shown(name))
		}
	}
	col, ok := m.Sub[strings.ToLower(sub)]
	if !ok {
		return frag{}, unsupported(name + "." + sub)
	}
	name += "." + sub
	if op == filter.NE {
		// Some element differs or lacks the sub-attribute, or there is no element: the
		// multi-valued reading of "ne matches absent".
		c, err := column(col, name, filter.EQ, v, true, t.s.Postgres)
		if err != nil {
			return frag{}, err
		}
		return negate(logical("OR", exists(m, filt, c), negate(exists(m, filt), true)), neg), nil
	}
	c, err := column(col, name, op, v, false, t.s.Postgres)
	if err != nil {
		return frag{}, err
	}
	return negate(exists(m, filt, c), neg), nil
}

// exists is "there is an element of m satisfying all of conds".
func exists(m *Multi, conds ...frag) frag {
	var parts []string
	if m.Where != "" {
		parts = append(parts, "("+m.Where+")")
	}
	for _, c := range conds {
		if c.sql != "" {
			parts = append(parts, c.sql)
		}
	}
	sql := "EXISTS (SELECT 1 FROM " + m.From
	if len(parts) > 0 {
		sql += " WHERE " + strings.Join(parts, " AND ")
	}
	return frag{sql + ")", concat(conds...)}
}

// negate is NOT f, for an f that is never NULL.
func negate(f frag, neg bool) frag {
	if !neg {
		return f
	}
	return frag{"NOT " + f.sql, f.args}
}

// column translates one comparison on a single value, negated with neg. The positive
// forms are NULL (so false) when the value is absent; the negated ones are true then.
func column(col Column, name string, op filter.CompareOperator, v any, neg, pg bool) (frag, error) {
	if op == filter.NE {
		op, neg = filter.EQ, !neg
	}
	x := col.Expr
	if op == filter.PR {
		switch col.Kind {
		case String, Reference, Binary, DateTime:
			if col.Kind != DateTime || !col.MillisTime {
				return pick(neg, "("+x+" IS NOT NULL AND "+x+" <> '')", "("+x+" IS NULL OR "+x+" = '')"), nil
			}
		case Complex:
			return pick(neg, "("+x+" IS NOT NULL AND "+x+" NOT IN ('', '{}', '[]'))", "("+x+" IS NULL OR "+x+" IN ('', '{}', '[]'))"), nil
		}
		return pick(neg, x+" IS NOT NULL", x+" IS NULL"), nil
	}
	badOp := func() error {
		return invalid("operator %s is not supported for %s attribute %s", op, col.Kind, shown(name))
	}
	if !validOp(op) {
		return frag{}, invalid("unknown operator %s", shown(string(op)))
	}

	switch col.Kind {
	case Boolean:
		if op != filter.EQ {
			return frag{}, badOp()
		}
		b, ok := boolValue(v)
		if !ok {
			return frag{}, invalid("%s needs a boolean value (true or false)", shown(name))
		}
		arg := 0
		if b {
			arg = 1
		}
		return compare(x, x, op, arg, neg), nil

	case DateTime:
		if op == filter.CO || op == filter.SW || op == filter.EW {
			return frag{}, badOp()
		}
		s, ok := v.(string)
		if !ok {
			return frag{}, invalid("%s needs a dateTime value in quotes, like \"2024-01-31T12:00:00Z\"", shown(name))
		}
		// RFC 3339 allows a lower-case "t" and "z"; Go's parser does not.
		tm, err := time.Parse(time.RFC3339Nano, strings.ToUpper(s))
		if err != nil {
			return frag{}, invalid("invalid dateTime %q for %s: want RFC 3339, like \"2024-01-31T12:00:00Z\"", shown(s), shown(name))
		}
		if col.MillisTime {
			return compareMillis(x, op, tm, neg), nil
		}
		// Both sides in one UTC form whose text order is time order. upper() because
		// SQLite's date functions, like Go's, want "T" and "Z". The form is NULL also for
		// text that is no date, which then counts as absent. (PostgreSQL's scim_time_text,
		// from the migrations, gives the same form.)
		lhs := "strftime('%Y-%m-%dT%H:%M:%f', upper(" + x + "))"
		if pg {
			lhs = "scim_time_text(upper(" + x + "))"
		}
		return compare(lhs, lhs, op, timeText(tm), neg), nil

	case Integer, Decimal:
		if op == filter.CO || op == filter.SW || op == filter.EW {
			return frag{}, badOp()
		}
		n, ok := v.(json.Number)
		if !ok {
			return frag{}, invalid("%s needs a number value", shown(name))
		}
		arg, ok := number(n)
		if !ok {
			return frag{}, invalid("number %s out of range", shown(n.String()))
		}
		return compare(x, x, op, arg, neg), nil

	case Complex:
		return frag{}, badOp()
	}

	// String, Reference, Binary.
	if col.Kind == Binary && op != filter.EQ {
		return frag{}, badOp()
	}
	s, ok := v.(string)
	if !ok {
		return frag{}, invalid("%s needs a string value in quotes", shown(name))
	}
	lhs, exact := x, true // exact: lhs is x itself, so a range on it can use an index
	switch {
	case col.Folded:
		s = db.Fold(s)
	case !col.CaseExact:
		lhs, exact = "golower("+x+")", false
		s = db.Fold(s)
	}
	if s == "" && (op == filter.CO || op == filter.SW || op == filter.EW) {
		// Every present value contains, starts and ends with "". (SQLite's substr with a
		// zero length from the end would return the whole string, so ew needs this.)
		return pick(neg, x+" IS NOT NULL", x+" IS NULL"), nil
	}
	switch op {
	case filter.CO:
		return frag{pick2(neg, "instr("+lhs+", ?) > 0", "("+x+" IS NULL OR instr("+lhs+", ?) = 0)"), []any{s}}, nil
	case filter.SW:
		if exact {
			// A range, so that an index on x serves it: in UTF-8 byte order, the strings
			// that start with s are exactly those in [s, successor of s).
			if hi, ok := successor(s); ok {
				return frag{pick2(neg, "("+x+" >= ? AND "+x+" < ?)", "("+x+" IS NULL OR "+x+" < ? OR "+x+" >= ?)"), []any{s, hi}}, nil
			}
			return compare(x, x, filter.GE, s, neg), nil
		}
		if pg { // a parameter's type must be known there: length() has several
			return frag{pick2(neg, "left("+lhs+", length(CAST(? AS TEXT))) = ?", "("+x+" IS NULL OR left("+lhs+", length(CAST(? AS TEXT))) <> ?)"), []any{s, s}}, nil
		}
		return frag{pick2(neg, "substr("+lhs+", 1, length(?)) = ?", "("+x+" IS NULL OR substr("+lhs+", 1, length(?)) <> ?)"), []any{s, s}}, nil
	case filter.EW:
		if pg { // nor a negative start in substr
			return frag{pick2(neg, "right("+lhs+", length(CAST(? AS TEXT))) = ?", "("+x+" IS NULL OR right("+lhs+", length(CAST(? AS TEXT))) <> ?)"), []any{s, s}}, nil
		}
		return frag{pick2(neg, "substr("+lhs+", -length(?)) = ?", "("+x+" IS NULL OR substr("+lhs+", -length(?)) <> ?)"), []any{s, s}}, nil
	}
	return compare(x, lhs, op, s, neg), nil
}

func validOp(op filter.CompareOperator) bool {
	switch op {
	case filter.EQ, filter.CO, filter.SW, filter.EW, filter.GT, filter.GE, filter.LT, filter.LE:
		return true
	}
	return false
}

func pick(neg bool, pos, negated string) frag {
	return frag{sql: pick2(neg, pos, negated)}
}

func pick2(neg bool, pos, negated string) string {
	if neg {
		return negated
	}
	return pos
}

// compare is "lhs op ?" for eq, gt, ge, lt, le (with neg: its negation, true also where
// null, the expression that is NULL when the attribute is absent, is NULL).
func compare(null, lhs string, op filter.CompareOperator, arg any, neg bool) frag {
	sym, inv := "=", "<>"
	switch op {
	case filter.GT:
		sym, inv = ">", "<="
	case filter.GE:
		sym, inv = ">=", "<"
	case filter.LT:
		sym, inv = "<", ">="
	case filter.LE:
		sym, inv = "<=", ">"
	}
	if !neg {
		return frag{lhs + " " + sym + " ?", []any{arg}}
	}
	return frag{"(" + null + " IS NULL OR " + lhs + " " + inv + " ?)", []any{arg}}
}

// value turns the parser's comparison value into string (unescaped), bool, nil or
// json.Number.
func value(v any) (any, error) {
	switch v := v.(type) {
	case nil, bool, json.Number:
		return v, nil
	case string:
		// The parser checks the JSON string syntax but leaves the escapes in.
		var s string
		if err := json.Unmarshal([]byte(`"`+v+`"`), &s); err != nil {
			return nil, invalid("invalid string \"%s\"", shown(v))
		}
		return s, nil
	case int:
		return json.Number(strconv.Itoa(v)), nil
	case float64:
		return json.Number(strconv.FormatFloat(v, 'g', -1, 64)), nil
	}
	return nil, invalid("unsupported value")
}

func boolValue(v any) (bool, bool) {
	switch v := v.(type) {
	case bool:
		return v, true
	case string:
		// Microsoft Entra ID sends booleans as "True" and "False".
		switch {
		case strings.EqualFold(v, "true"):
			return true, true
		case strings.EqualFold(v, "false"):
			return false, true
		}
	}
	return false, false
}

// number is n as an int64 when it is one (exact for large integers), else a float64.
func number(n json.Number) (any, bool) {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return i, true
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, false
	}
	return f, true
}

// compareMillis compares x, a time in whole Unix milliseconds, with tm, exactly: a tm with
// a fraction of a millisecond becomes the whole millisecond that gives the same answer
// (x > 64.5 is x > 64, x >= 64.5 is x >= 65, x = 64.5 is never true), so that the
// argument is always an integer like the column (PostgreSQL will not compare a BIGINT
// parameter with a fraction).
func compareMillis(x string, op filter.CompareOperator, tm time.Time, neg bool) frag {
	ms := tm.UnixMilli() // rounds towards minus infinity before 1970 too: it is floor
	if tm.Nanosecond()%int(time.Millisecond) == 0 {
		return compare(x, x, op, ms, neg)
	}
	switch op {
	case filter.EQ:
		return pick(neg, "1 = 0", "1 = 1")
	case filter.GE, filter.LT:
		ms++
	}
	return compare(x, x, op, ms, neg)
}

// timeText is tm in UTC in the form of SQLite's strftime('%Y-%m-%dT%H:%M:%f'), with
// digits beyond the millisecond only when tm has them: text order is then time order
// (a shorter string sorts before the longer one it is a prefix of).
func timeText(tm time.Time) string {
	s := tm.UTC().Format("2006-01-02T15:04:05.000000000")
	for len(s) > len("2006-01-02T15:04:05.000") && s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	return s
}

// successor is the least string greater than every string that starts with s, if there is
// one: s with its last rune incremented (dropping trailing U+10FFFF, skipping surrogates).
func successor(s string) (string, bool) {
	rs := []rune(s)
	for i := len(rs) - 1; i >= 0; i-- {
		r := rs[i]
		if r >= utf8.MaxRune {
			continue
		}
		r++
		if r >= 0xD800 && r <= 0xDFFF {
			r = 0xE000
		}
		return string(rs[:i]) + string(r), true
	}
	return "", false
}
