-- Where the serving process logs (a file path, "stderr" or "journal"), so that a console
-- attached to a server in another process names the log that server writes, not its own.
ALTER TABLE heartbeat ADD COLUMN log TEXT NOT NULL DEFAULT '';
