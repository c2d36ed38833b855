-- The chain: every stored block (any branch), the active chain by height,
-- transactions and outputs of the active chain, per-address balances and
-- history, and the blockchain info of API.md §2, maintained as blocks are
-- connected and disconnected.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- status: 0 stored (valid through §6 steps 1-13), 1 connected at least once, 2 invalid for good
CREATE TABLE blocks (
    hash            BLOB PRIMARY KEY,
    prev_hash       BLOB NOT NULL,
    height          INTEGER NOT NULL,
    timestamp       INTEGER NOT NULL,
    target          BLOB NOT NULL,
    cumulative_work BLOB NOT NULL,
    status          INTEGER NOT NULL,
    error_code      TEXT,
    error_message   TEXT,
    error_tx        INTEGER,
    json            TEXT NOT NULL,
    header_json     TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX blocks_by_prev ON blocks(prev_hash);
-- Fork choice: the heaviest block not marked invalid.
CREATE INDEX blocks_by_work ON blocks(cumulative_work) WHERE status != 2;

CREATE TABLE active_chain (
    height INTEGER PRIMARY KEY,
    hash   BLOB NOT NULL UNIQUE
);

CREATE TABLE transactions (
    hash         BLOB PRIMARY KEY,
    block_height INTEGER NOT NULL,
    position     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX transactions_by_height ON transactions(block_height);

-- Every output created on the active chain; spent ones stay known
-- (PROTOCOL.md §4: double_spend, not unknown_input). Outputs to the zero
-- address are burnt and never stored.
CREATE TABLE outputs (
    transaction_hash  BLOB NOT NULL,
    output_index      INTEGER NOT NULL,
    address           BLOB NOT NULL,
    value             INTEGER NOT NULL,
    hash              BLOB NOT NULL,
    block_height      INTEGER NOT NULL,
    transaction_index INTEGER NOT NULL,
    coinbase          INTEGER NOT NULL,
    spent_height      INTEGER,
    PRIMARY KEY (transaction_hash, output_index)
) WITHOUT ROWID;
CREATE INDEX outputs_unspent_by_address
    ON outputs(address, block_height, transaction_index, output_index)
    WHERE spent_height IS NULL;
CREATE INDEX outputs_by_height ON outputs(block_height);
CREATE INDEX outputs_by_spent_height ON outputs(spent_height) WHERE spent_height IS NOT NULL;

CREATE TABLE addresses (
    address           BLOB PRIMARY KEY,
    balance           INTEGER NOT NULL,
    received          INTEGER NOT NULL,
    sent              INTEGER NOT NULL,
    transaction_count INTEGER NOT NULL
) WITHOUT ROWID;
-- The rich list is an indexed top-10 read.
CREATE INDEX addresses_rich ON addresses(balance DESC, address) WHERE balance > 0;

CREATE TABLE address_history (
    address      BLOB NOT NULL,
    block_height INTEGER NOT NULL,
    position     INTEGER NOT NULL,
    hash         BLOB NOT NULL,
    timestamp    INTEGER NOT NULL,
    delta        INTEGER NOT NULL,
    PRIMARY KEY (address, block_height, position)
) WITHOUT ROWID;
CREATE INDEX address_history_by_height ON address_history(block_height);

CREATE TABLE chain_info (
    id                 INTEGER PRIMARY KEY CHECK (id = 0),
    height             INTEGER NOT NULL,
    best_hash          BLOB NOT NULL,
    total_transactions INTEGER NOT NULL,
    total_addresses    INTEGER NOT NULL,
    total_work         BLOB NOT NULL
);
