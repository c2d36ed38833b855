-- Blocks that failed a rule (PROTOCOL.md §6 step 14, or built on one that
-- did) are remembered by hash with their error, never stored whole
-- (API.md §7): a junk block costs a row, not megabytes.
CREATE TABLE invalid_blocks (
    hash          BLOB PRIMARY KEY,
    prev_hash     BLOB NOT NULL,
    height        INTEGER NOT NULL,
    error_code    TEXT NOT NULL,
    error_message TEXT NOT NULL,
    error_tx      INTEGER
) WITHOUT ROWID;

INSERT INTO invalid_blocks (hash, prev_hash, height, error_code, error_message, error_tx)
    SELECT hash, prev_hash, height,
           coalesce(error_code, 'invalid_parent'),
           coalesce(error_message, 'the parent block is invalid'),
           error_tx
    FROM blocks WHERE status = 2;
DELETE FROM blocks WHERE status = 2;

-- Every row of blocks is now valid through §6 steps 1-13 (status 0 stored,
-- 1 connected at least once): fork choice reads the whole index.
DROP INDEX blocks_by_work;
CREATE INDEX blocks_by_work ON blocks(cumulative_work);
