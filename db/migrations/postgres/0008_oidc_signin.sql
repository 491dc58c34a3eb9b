CREATE TABLE oidc_used_tokens (
    token_hash BYTEA PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX oidc_used_tokens_expires ON oidc_used_tokens(expires_at);
