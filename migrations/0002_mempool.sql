-- The mempool, persisted so it survives a restart (re-validated on load).
CREATE TABLE mempool (
    seq  INTEGER PRIMARY KEY,
    hash BLOB NOT NULL UNIQUE,
    json TEXT NOT NULL
);
