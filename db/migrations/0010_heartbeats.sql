-- One heartbeat per server instance instead of one for the database: several instances
-- serve one PostgreSQL database behind a load balancer, and each says who it is (host,
-- pid, address) and how it fares. The key is a random id the process makes as it starts,
-- since pids repeat across hosts and restarts. A server rewrites its row every few
-- seconds, deletes it on a clean stop, and deletes the rows that stopped beating a day ago.
-- The old one-row table held only a running server's last few seconds of state: it is
-- dropped, and a server of this version writes its row at its next beat.
CREATE TABLE heartbeats (
    id              TEXT PRIMARY KEY,
    host            TEXT NOT NULL,
    pid             INTEGER NOT NULL,
    addr            TEXT NOT NULL,
    public_url      TEXT NOT NULL,
    tls             INTEGER NOT NULL,          -- 0 or 1
    started_at      INTEGER NOT NULL,
    beat_at         INTEGER NOT NULL,
    requests        INTEGER NOT NULL,
    last_request_at INTEGER,                   -- NULL: no request yet
    last_agent      TEXT NOT NULL DEFAULT '',
    log             TEXT NOT NULL DEFAULT '',  -- a file path, 'stderr' or 'journal'
    ssh_addr        TEXT NOT NULL DEFAULT '',
    ssh_host_key    TEXT NOT NULL DEFAULT ''
);

DROP TABLE heartbeat;
