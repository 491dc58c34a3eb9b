-- The SSH console of the serving process (its address and host key fingerprint), so that a
-- console attached to that server shows what an admin compares on first connect.
ALTER TABLE heartbeat ADD COLUMN ssh_addr TEXT NOT NULL DEFAULT '';
ALTER TABLE heartbeat ADD COLUMN ssh_host_key TEXT NOT NULL DEFAULT '';
