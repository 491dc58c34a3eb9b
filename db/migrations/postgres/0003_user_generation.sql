-- A counter that changes whenever a user is created or deleted, in any process (see
-- SQLite's 0003_user_generation.sql).
CREATE TABLE counters (
    name  TEXT COLLATE "C" PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('user_membership', 0);
CREATE FUNCTION bump_user_membership() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'user_membership';
    RETURN NULL;
END $$;
CREATE TRIGGER users_generation AFTER INSERT OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION bump_user_membership();
