-- The peer book of a full node (API.md §1, §8 "Peers"): the nodes it
-- knows and the nodes it banned, kept across restarts. Rewritten whole
-- when it changes (at most --max-peers rows, plus the bans).
CREATE TABLE known_nodes (
    ip_address TEXT NOT NULL,
    port       INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    PRIMARY KEY (ip_address, port)
) WITHOUT ROWID;

CREATE TABLE banned_nodes (
    ip_address TEXT NOT NULL,
    port       INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    -- Milliseconds since the Unix epoch when the ban ends.
    until_ms   INTEGER NOT NULL,
    reason     TEXT NOT NULL,
    PRIMARY KEY (ip_address, port)
) WITHOUT ROWID;
