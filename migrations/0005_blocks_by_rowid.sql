-- `blocks` as a rowid table. WITHOUT ROWID, every row sat in the key
-- b-tree, and SQLite compares a key cell that overflows (a block's JSON
-- does) only after reading the whole cell: each lookup by hash read every
-- block's JSON its search passed (megabytes per connected block, in
-- block_record alone). Here a lookup compares hashes in the index, the
-- row follows by rowid, and the small columns come first in it.
CREATE TABLE blocks_by_rowid (
    hash            BLOB NOT NULL PRIMARY KEY,
    prev_hash       BLOB NOT NULL,
    height          INTEGER NOT NULL,
    timestamp       INTEGER NOT NULL,
    target          BLOB NOT NULL,
    cumulative_work BLOB NOT NULL,
    status          INTEGER NOT NULL,
    error_code      TEXT,
    error_message   TEXT,
    error_tx        INTEGER,
    header_json     TEXT NOT NULL,
    json            TEXT NOT NULL
);
INSERT INTO blocks_by_rowid (hash, prev_hash, height, timestamp, target, cumulative_work,
                             status, error_code, error_message, error_tx, header_json, json)
    SELECT hash, prev_hash, height, timestamp, target, cumulative_work,
           status, error_code, error_message, error_tx, header_json, json
    FROM blocks ORDER BY height;
DROP TABLE blocks;
ALTER TABLE blocks_by_rowid RENAME TO blocks;
CREATE INDEX blocks_by_prev ON blocks(prev_hash);
CREATE INDEX blocks_by_work ON blocks(cumulative_work);
