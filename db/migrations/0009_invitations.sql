-- The outbox of emailed invitations. A row is queued in the transaction that causes it (a
-- SCIM create or re-activation with --invite auto, or the admin's `users invite`), so no
-- invitation is lost and no SCIM request waits for mail; the server's mail worker sends
-- it later, retrying with backoff. No code is stored here: the worker issues a fresh setup
-- code (kept only as its keyed hash in setup_codes) when it sends, so the mail is the only
-- place the code ever appears. Rows stay as the delivery history of each user.
CREATE TABLE invitations (
    id              INTEGER PRIMARY KEY,
    user_seq        INTEGER NOT NULL REFERENCES users(seq) ON DELETE CASCADE,
    address         TEXT NOT NULL,            -- where it goes: set when queued, updated at each attempt
    reason          TEXT NOT NULL,            -- 'provisioned', 'reactivated' or 'admin'
    invited_by      TEXT NOT NULL,            -- the actor who caused it, for the message
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_at         INTEGER NOT NULL,         -- not before this time (backoff)
    last_error      TEXT NOT NULL DEFAULT '',
    sent_at         INTEGER,
    code_expires_at INTEGER,                  -- of the code the sent mail carries
    failed_at       INTEGER                   -- given up (a permanent refusal, or no longer pending)
);
-- At most one open (unsent, not given up) invitation per user: queueing again is a no-op.
CREATE UNIQUE INDEX invitations_open ON invitations (user_seq) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX invitations_due ON invitations (next_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX invitations_user ON invitations (user_seq, id);
