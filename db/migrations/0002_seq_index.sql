-- A narrow index in creation order. Deep pages (SCIM startIndex is an offset) skip rows in
-- this index, a few hundred entries a page, instead of walking whole rows in the table.
CREATE INDEX users_seq ON users(seq);
CREATE INDEX groups_seq ON groups(seq);
