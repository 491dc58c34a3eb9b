-- SQLite's 0002 adds narrow indexes on seq for deep pages; PostgreSQL's primary key index
-- on seq already is one. Nothing to do but keep the migration names the same on both.
SELECT 1;
