-- A counter that changes whenever a user is created or deleted, in any process. Deep pages
-- of the user list are found through an in-memory index of creation order (rank -> seq);
-- this counter tells, in one cheap read, whether that index is still right.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO counters (name, value) VALUES ('user_membership', 0);
CREATE TRIGGER users_generation_insert AFTER INSERT ON users BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'user_membership';
END;
CREATE TRIGGER users_generation_delete AFTER DELETE ON users BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'user_membership';
END;
