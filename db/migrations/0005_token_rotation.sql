-- Token rotation: a rotated token points at the token that replaced it, and records when.
-- Its expiry is cut to the end of the overlap at rotation, so authentication needs no
-- new column: a rotated token simply expires.
ALTER TABLE scim_tokens ADD COLUMN replaced_by TEXT; -- NULL: not rotated
ALTER TABLE scim_tokens ADD COLUMN rotated_at INTEGER;
