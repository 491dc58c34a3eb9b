package db

// The package's SQL is one text for both engines wherever SQLite and PostgreSQL agree
// (placeholders are rewritten by pgConn). These are the few places where they do not: the
// JSON arrays bound as one parameter, which SQLite reads with json_each and PostgreSQL
// with jsonb_array_elements_text.

// seqsIn is a subquery of the integers (user or group seqs) in the JSON array bound to its
// one placeholder, as one column.
func seqsIn(q querier) string {
	if q.postgres() {
		return `SELECT CAST(value AS BIGINT) AS value FROM jsonb_array_elements_text(CAST(? AS jsonb))`
	}
	return `SELECT value FROM json_each(?)`
}

// jsonTexts is a FROM item named alias over the strings in the JSON array bound to its one
// placeholder: alias.value is each string, alias.key orders them as in the array.
func jsonTexts(q querier, alias string) string {
	if q.postgres() {
		return `jsonb_array_elements_text(CAST(? AS jsonb)) WITH ORDINALITY AS ` + alias + `(value, key)`
	}
	return `json_each(?) ` + alias
}
