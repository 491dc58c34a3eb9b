-- Sign-in with the identity provider: the ID tokens already used to start a setup, by
-- sha256, kept until they expire so that each is usable once. The issuer and client id
-- live in settings (oidc_issuer, oidc_client_id).
CREATE TABLE oidc_used_tokens (
    token_hash BLOB PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX oidc_used_tokens_expires ON oidc_used_tokens(expires_at);
