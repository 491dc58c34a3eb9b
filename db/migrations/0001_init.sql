-- The first schema. Times are Unix milliseconds (UTC). Every table that the console
-- pages through has an integer primary key so that paging and tailing are index walks.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE scim_tokens (
    id              TEXT PRIMARY KEY,
    description     TEXT NOT NULL,
    secret_hash     BLOB NOT NULL UNIQUE,
    hint            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER,            -- NULL: never expires
    last_used_at    INTEGER,
    last_used_addr  TEXT,
    last_used_agent TEXT,
    revoked_at      INTEGER
);

-- A user is stored as its SCIM document (doc, canonical attribute names, without id, meta,
-- groups and password) plus the columns that are filtered, sorted or shown in lists.
CREATE TABLE users (
    seq            INTEGER PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    user_name      TEXT NOT NULL,
    user_name_norm TEXT NOT NULL UNIQUE, -- lowered with Go's Unicode rules, not SQLite's ASCII lower()
    external_id    TEXT,
    display_name   TEXT NOT NULL DEFAULT '',
    given_name     TEXT NOT NULL DEFAULT '',
    family_name    TEXT NOT NULL DEFAULT '',
    email          TEXT NOT NULL DEFAULT '', -- the primary (or first) email, for lists
    email_norm     TEXT NOT NULL DEFAULT '',
    active         INTEGER NOT NULL DEFAULT 1,
    doc            TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    modified_at    INTEGER NOT NULL,
    version        INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX users_external_id ON users(external_id);
CREATE INDEX users_email_norm ON users(email_norm);
CREATE INDEX users_modified ON users(modified_at);

CREATE TABLE groups (
    seq               INTEGER PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    display_name      TEXT NOT NULL,
    display_name_norm TEXT NOT NULL UNIQUE,
    external_id       TEXT,
    doc               TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    modified_at       INTEGER NOT NULL,
    version           INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX groups_external_id ON groups(external_id);

CREATE TABLE group_members (
    group_seq INTEGER NOT NULL REFERENCES groups(seq) ON DELETE CASCADE,
    user_seq  INTEGER NOT NULL REFERENCES users(seq) ON DELETE CASCADE,
    PRIMARY KEY (group_seq, user_seq)
) WITHOUT ROWID;
CREATE INDEX group_members_user ON group_members(user_seq, group_seq);

CREATE TABLE user_keys (
    user_seq      INTEGER PRIMARY KEY REFERENCES users(seq) ON DELETE CASCADE,
    key_alg       TEXT NOT NULL,
    public_key    BLOB NOT NULL,
    wrapped_key   TEXT NOT NULL, -- JSON: private key wrapped under the passphrase (argon2id)
    recovery_key  TEXT NOT NULL, -- JSON: private key wrapped under the recovery key
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE setup_codes (
    user_seq      INTEGER PRIMARY KEY REFERENCES users(seq) ON DELETE CASCADE,
    purpose       TEXT NOT NULL, -- 'setup' or 'recover'
    code_hash     BLOB NOT NULL UNIQUE,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    attempts_left INTEGER NOT NULL,
    used_at       INTEGER
);

CREATE TABLE events (
    id        INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    token_id  TEXT NOT NULL DEFAULT '',
    addr      TEXT NOT NULL DEFAULT '',
    agent     TEXT NOT NULL DEFAULT '',
    subject   TEXT NOT NULL DEFAULT '',
    outcome   TEXT NOT NULL,  -- 'ok' or 'fail'
    status    INTEGER NOT NULL DEFAULT 0,
    summary   TEXT NOT NULL DEFAULT ''
);

-- One row: the state of the server that serves this database, rewritten every few seconds.
CREATE TABLE heartbeat (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    pid             INTEGER NOT NULL,
    addr            TEXT NOT NULL,
    tls             INTEGER NOT NULL,
    public_url      TEXT NOT NULL,
    started_at      INTEGER NOT NULL,
    beat_at         INTEGER NOT NULL,
    requests        INTEGER NOT NULL,
    last_request_at INTEGER,
    last_agent      TEXT NOT NULL DEFAULT ''
);
