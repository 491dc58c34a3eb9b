-- One heartbeat per server instance (see SQLite's 0010_heartbeats.sql): several instances
-- serve one PostgreSQL database, each beating into its own row.
CREATE TABLE heartbeats (
    id              TEXT COLLATE "C" PRIMARY KEY,
    host            TEXT NOT NULL,
    pid             BIGINT NOT NULL,
    addr            TEXT NOT NULL,
    public_url      TEXT NOT NULL,
    tls             BIGINT NOT NULL,
    started_at      BIGINT NOT NULL,
    beat_at         BIGINT NOT NULL,
    requests        BIGINT NOT NULL,
    last_request_at BIGINT,
    last_agent      TEXT NOT NULL DEFAULT '',
    log             TEXT NOT NULL DEFAULT '',
    ssh_addr        TEXT NOT NULL DEFAULT '',
    ssh_host_key    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX heartbeats_beat ON heartbeats (beat_at);
DROP TABLE heartbeat;
