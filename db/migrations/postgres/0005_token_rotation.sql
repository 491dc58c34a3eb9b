ALTER TABLE scim_tokens ADD COLUMN replaced_by TEXT COLLATE "C";
ALTER TABLE scim_tokens ADD COLUMN rotated_at BIGINT;
