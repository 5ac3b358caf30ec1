"""The central SQLite schema as forward migrations; schema_version records what ran.

To change the schema, append a migration; never edit one that has shipped.
"""

MIGRATIONS: list[str] = [
    # 1: results, hourly rollups, signals, API keys and their daily usage.
    """
    CREATE TABLE results (
        target     TEXT NOT NULL,
        region     TEXT NOT NULL,
        probe      TEXT NOT NULL,
        round_ts   INTEGER NOT NULL,      -- unix s, start of the 15-minute slot
        ts         REAL NOT NULL,         -- unix s, probe start
        ok         INTEGER NOT NULL,
        rtt_ms     REAL, min_ms REAL, p95_ms REAL, max_ms REAL, mean_ms REAL, jitter_ms REAL,
        loss       REAL NOT NULL,         -- 0..1
        samples_ms TEXT NOT NULL,         -- JSON list, null for a lost sample
        detail     TEXT,                  -- JSON of probe-specific fields (hops, status, ...)
        error      TEXT,
        received_at REAL NOT NULL,        -- unix s, when central ingest stored it
        UNIQUE (target, region, probe, round_ts)
    ) STRICT;
    CREATE INDEX results_round ON results (round_ts, region);
    CREATE TABLE hourly (
        target   TEXT NOT NULL,
        region   TEXT NOT NULL,
        probe    TEXT NOT NULL,
        hour_ts  INTEGER NOT NULL,
        count    INTEGER NOT NULL,
        ok_count INTEGER NOT NULL,
        median_ms REAL, p95_ms REAL, min_ms REAL, max_ms REAL,
        loss     REAL NOT NULL,
        PRIMARY KEY (target, region, probe, hour_ts)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE signals (
        type        TEXT NOT NULL,        -- rtt_anomaly | route_change | divergence | trend
        target      TEXT NOT NULL,
        region      TEXT NOT NULL,
        probe       TEXT NOT NULL,
        ts          INTEGER NOT NULL,     -- unix s of the round it fired on
        value       REAL NOT NULL,
        threshold   REAL NOT NULL,
        severity    TEXT NOT NULL,        -- info | warning | critical
        scope       TEXT NOT NULL,        -- regional | global
        regions     TEXT NOT NULL,        -- JSON list of agreeing regions
        description TEXT NOT NULL,
        detail      TEXT,                 -- JSON, e.g. old and new hop lists
        PRIMARY KEY (type, target, region, probe, ts)
    ) STRICT;
    CREATE INDEX signals_ts ON signals (ts);
    CREATE TABLE api_keys (
        id         INTEGER PRIMARY KEY,
        prefix     TEXT NOT NULL,         -- non-secret, for display
        digest     BLOB NOT NULL UNIQUE,  -- HMAC-SHA256(pepper, key)
        tier       TEXT NOT NULL,
        owner      TEXT NOT NULL,
        created_at REAL NOT NULL,
        revoked_at REAL,
        replaced_by INTEGER REFERENCES api_keys (id)
    ) STRICT;
    CREATE TABLE usage (
        key_id INTEGER NOT NULL REFERENCES api_keys (id),
        day    TEXT NOT NULL,             -- UTC date, YYYY-MM-DD
        calls  INTEGER NOT NULL,
        PRIMARY KEY (key_id, day)
    ) STRICT, WITHOUT ROWID;
    """,
    # 2: the proxy finds a key's candidate rows by its non-secret display prefix.
    """
    CREATE INDEX api_keys_prefix ON api_keys (prefix);
    """,
    # 3: retention prunes hourly rows by age in small chunks without scanning the table.
    """
    CREATE INDEX hourly_hour ON hourly (hour_ts);
    """,
    # 4: hours whose rollups await a refresh (ingest/rollup.py), marked in the write's
    # transaction so a crash between a write and its refresh loses nothing.
    """
    CREATE TABLE hourly_dirty (
        region  TEXT NOT NULL,
        hour_ts INTEGER NOT NULL,
        PRIMARY KEY (region, hour_ts)
    ) STRICT, WITHOUT ROWID;
    """,
    # 5: the unique key time first, so a write appends at the index's right edge instead of
    # landing at random across it (4x the insert rate at 1M rows); results_round is its
    # prefix. Rebuilt with rowids kept: the build and the stream read new rows by rowid.
    """
    CREATE TABLE results_new (
        target     TEXT NOT NULL,
        region     TEXT NOT NULL,
        probe      TEXT NOT NULL,
        round_ts   INTEGER NOT NULL,
        ts         REAL NOT NULL,
        ok         INTEGER NOT NULL,
        rtt_ms     REAL, min_ms REAL, p95_ms REAL, max_ms REAL, mean_ms REAL, jitter_ms REAL,
        loss       REAL NOT NULL,
        samples_ms TEXT NOT NULL,
        detail     TEXT,
        error      TEXT,
        received_at REAL NOT NULL,
        UNIQUE (round_ts, region, target, probe)
    ) STRICT;
    INSERT INTO results_new (rowid, target, region, probe, round_ts, ts, ok, rtt_ms, min_ms,
        p95_ms, max_ms, mean_ms, jitter_ms, loss, samples_ms, detail, error, received_at)
    SELECT rowid, target, region, probe, round_ts, ts, ok, rtt_ms, min_ms,
        p95_ms, max_ms, mean_ms, jitter_ms, loss, samples_ms, detail, error, received_at
    FROM results ORDER BY round_ts, region, target, probe;
    DROP TABLE results;
    ALTER TABLE results_new RENAME TO results;
    CREATE INDEX results_region ON results (region, round_ts);
    """,
    # 6: signals are events (an onset, a span, a resolution), not rounds. The per-round rows of
    # schema 1 are kept, renamed; signal_transitions logs each opening and resolution in order,
    # read by seq by the stream and the webhooks as results are read by rowid.
    """
    ALTER TABLE signals RENAME TO signal_rounds_v1;
    DROP INDEX signals_ts;
    CREATE TABLE signals (
        id          TEXT PRIMARY KEY,     -- stable: the same onset always has the same id
        type        TEXT NOT NULL,        -- level_shift | spike | loss | route_change | ...
        target      TEXT NOT NULL,
        region      TEXT NOT NULL,        -- the region it was found in first
        probe       TEXT NOT NULL,
        scope       TEXT NOT NULL,        -- regional | global
        regions     TEXT NOT NULL,        -- JSON list of agreeing regions
        started_at  INTEGER NOT NULL,     -- unix s of the onset round
        ended_at    INTEGER,              -- unix s of the round it resolved on, NULL while open
        status      TEXT NOT NULL,        -- open | resolved
        before_ms   REAL,
        during_ms   REAL,
        peak_z      REAL,
        severity    TEXT NOT NULL,        -- info | warning | critical
        in_session  INTEGER NOT NULL DEFAULT 0,  -- opened while the target's market was open
        description TEXT NOT NULL,
        detail      TEXT,                 -- JSON, e.g. the hops that changed
        updated_at  INTEGER NOT NULL      -- unix s of the round of its latest change
    ) STRICT;
    CREATE INDEX signals_open ON signals (status, target);
    CREATE INDEX signals_started ON signals (started_at);
    CREATE TABLE signal_transitions (
        seq       INTEGER PRIMARY KEY AUTOINCREMENT,
        signal_id TEXT NOT NULL REFERENCES signals (id),
        kind      TEXT NOT NULL,          -- opened | resolved
        round_ts  INTEGER NOT NULL,
        UNIQUE (signal_id, kind)
    ) STRICT;
    """,
    # 7: webhooks (proxy/webhook_store.py). The queue holds one row per webhook and transition
    # until it is delivered or given up, queued in the same transaction that moves the fan-out
    # cursor, so a crash neither loses nor doubles one. Attempts are the log users list.
    """
    CREATE TABLE webhooks (
        id          TEXT PRIMARY KEY,     -- wh_ + base62
        key_id      INTEGER NOT NULL REFERENCES api_keys (id),
        url         TEXT NOT NULL,
        salt        BLOB NOT NULL,        -- the signing secret is HMAC(pepper, salt), never stored
        format      TEXT NOT NULL,        -- json | slack | discord
        filters     TEXT NOT NULL,        -- JSON: types, targets, categories, min_severity, in_session
        created_at  REAL NOT NULL,
        after_seq   INTEGER NOT NULL,     -- it is sent the transitions after this seq
        failures    INTEGER NOT NULL DEFAULT 0,  -- consecutive failed attempts
        disabled_at REAL,
        disabled_reason TEXT
    ) STRICT;
    CREATE INDEX webhooks_key ON webhooks (key_id);
    CREATE TABLE webhook_queue (
        qid        INTEGER PRIMARY KEY AUTOINCREMENT,  -- the worker reads new rows by qid
        id         TEXT NOT NULL UNIQUE,  -- X-NetTrace-Delivery
        webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
        seq        INTEGER NOT NULL,      -- signal_transitions.seq (0: the ping at registration)
        event      TEXT NOT NULL,         -- opened | resolved | ping
        body       BLOB NOT NULL,         -- fixed when queued: every attempt sends these bytes
        queued_at  REAL NOT NULL,
        attempts   INTEGER NOT NULL DEFAULT 0,
        next_at    REAL NOT NULL,         -- unix s of the next attempt
        UNIQUE (webhook_id, seq)
    ) STRICT;
    CREATE TABLE webhook_attempts (
        id          INTEGER PRIMARY KEY,
        webhook_id  TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
        delivery_id TEXT NOT NULL,
        attempt     INTEGER NOT NULL,     -- 1 for the first try of a delivery
        at          REAL NOT NULL,        -- unix s the attempt started
        status      INTEGER,              -- the HTTP status, NULL when none came
        error       TEXT,                 -- why it failed, NULL on success
        latency_ms  REAL NOT NULL,
        outcome     TEXT NOT NULL         -- delivered | retrying | gave_up | disabled
    ) STRICT;
    CREATE INDEX webhook_attempts_hook ON webhook_attempts (webhook_id, id);
    CREATE TABLE webhook_fanout (
        id  INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL              -- the last transition queued for the webhooks
    ) STRICT;
    """,
    # 8: what the detector reads of every row, kept apart from the JSON it comes from: parsing
    # samples_ms and a trace's detail was most of a backtest's read. Rows stored before stay
    # NULL (readers fall back to the JSON): filling them would rewrite the whole table at once.
    """
    ALTER TABLE results ADD COLUMN sent INTEGER;        -- length of samples_ms
    ALTER TABLE results ADD COLUMN fingerprint TEXT;    -- detail's fingerprint (traces)
    """,
]
