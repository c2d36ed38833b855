-- The transaction that spent each spent output (the explorer's link to
-- the spender, API.md §9), written when the block spending it is
-- connected and cleared when it is disconnected, as spent_height is:
-- NULL exactly when spent_height is.
ALTER TABLE outputs ADD COLUMN spent_by BLOB;

-- Outputs spent before this migration: their spenders from the active
-- chain's blocks, each block's JSON read once (every input of every
-- transaction but the coinbase), then one lookup by key per spent output.
CREATE TEMP TABLE spent_by_backfill (
    transaction_hash BLOB NOT NULL,
    output_index     INTEGER NOT NULL,
    spender          BLOB NOT NULL,
    PRIMARY KEY (transaction_hash, output_index)
) WITHOUT ROWID;
INSERT OR IGNORE INTO spent_by_backfill (transaction_hash, output_index, spender)
    SELECT unhex(json_extract(i.value, '$.transaction_hash')),
           json_extract(i.value, '$.output_index'),
           unhex(json_extract(t.value, '$.hash'))
    FROM active_chain a
    JOIN blocks b ON b.hash = a.hash,
         json_each(b.json, '$.transactions') t,
         json_each(t.value, '$.inputs') i
    WHERE t.key > 0;
UPDATE outputs SET spent_by = (
    SELECT s.spender FROM spent_by_backfill s
    WHERE s.transaction_hash = outputs.transaction_hash
      AND s.output_index = outputs.output_index
) WHERE spent_height IS NOT NULL;
DROP TABLE spent_by_backfill;
