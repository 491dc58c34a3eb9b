-- Codes are keyed HMACs from here on (see SQLite's 0004); a new database has none.
DELETE FROM setup_codes;
