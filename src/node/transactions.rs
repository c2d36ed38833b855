//! Transaction intake (`POST /transactions/`): PROTOCOL.md §4 in order,
//! then the mempool's policy (API.md §4), then the pool and its table.

use std::sync::Arc;

use rusqlite::Connection;

use super::{Node, NodeEvent, Origin};
use crate::consensus::RuleError;
use crate::consensus::transaction::{
    KnownOutput, OutputView, check_context_free, check_inputs, check_signatures, check_timestamp,
};
use crate::mempool::{Mempool, PolicyError};
use crate::state::{self, ChainStore, PoolOp, StoreError};
use crate::types::{OutPoint, Transaction};

/// Why a transaction was refused (API.md §4).
#[derive(Debug, thiserror::Error)]
pub enum TxRejected {
    /// A consensus rule (PROTOCOL.md §4).
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// The mempool's policy: valid, but not kept here.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TxRejected {
    /// The API's error code.
    pub fn code(&self) -> &'static str {
        match self {
            TxRejected::Rule(e) => e.code(),
            TxRejected::Policy(e) => e.code(),
            TxRejected::Store(_) => "internal",
        }
    }
}

/// Which mempool policy applies on admission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Policy {
    /// A new transaction: the relay fee and the chain limits apply.
    Relay,
    /// A transaction that was in the pool or in a block before (a restart,
    /// a reorganisation): it returns when still valid (PROTOCOL.md §7),
    /// whatever it paid.
    Returning,
}

impl Node {
    /// `POST /transactions/`: PROTOCOL.md §4 in order, `already_known`
    /// after step 9, then the relay fee, the chain limits and the bound
    /// (API.md §4).
    pub fn submit_transaction(&self, tx: Transaction) -> Result<Arc<Transaction>, TxRejected> {
        self.submit_transaction_from(tx, Origin::Api)
    }

    /// [`Node::submit_transaction`] naming where it came from (relay skips it).
    pub fn submit_transaction_from(
        &self,
        tx: Transaction,
        origin: Origin,
    ) -> Result<Arc<Transaction>, TxRejected> {
        let admitted = self.accept_transaction(tx, None);
        let label = origin.transaction_label();
        let admitted = match admitted {
            Ok(tx) => {
                self.metrics.transaction(label, "accepted");
                tx
            }
            Err(e) => {
                self.metrics.transaction(label, e.code());
                return Err(e);
            }
        };
        self.publish(NodeEvent::TransactionAdmitted {
            tx: admitted.clone(),
            origin,
        });
        Ok(admitted)
    }

    /// Reloads the persisted mempool, validating every transaction again
    /// (signatures included: the file is not trusted) against the current
    /// chain; those that no longer validate are dropped.
    pub fn load_mempool(&self) -> Result<(usize, usize), StoreError> {
        let rows = self.store().load_mempool()?;
        let (mut kept, mut dropped) = (0, 0);
        let mut gone = Vec::new();
        for (seq, hash, json) in rows {
            let result = match serde_json::from_str::<Transaction>(&json) {
                Ok(tx) => self
                    .accept_transaction(tx, Some(seq))
                    .map(|_| ())
                    .map_err(|e| e.code()),
                Err(_) => Err("malformed"),
            };
            let accepted = result.is_ok();
            self.metrics
                .transaction("restart", result.err().unwrap_or("accepted"));
            if accepted {
                kept += 1;
            } else {
                dropped += 1;
                gone.push(hash);
            }
        }
        self.journal.queue(gone.into_iter().map(PoolOp::Remove));
        self.journal.flush()?;
        Ok((kept, dropped))
    }

    /// Steps 1–9 and 15 without any lock, then the rest under the locks.
    fn accept_transaction(
        &self,
        tx: Transaction,
        reload_seq: Option<u64>,
    ) -> Result<Arc<Transaction>, TxRejected> {
        let sighash = check_context_free(&tx)?; // steps 1–9
        // already_known comes after step 9. The pool's look is cheap, made
        // here before the slow step 15: a relayed transaction comes from
        // several peers. The chain's look waits for the locks (`admit`): a
        // read transaction here cost 5 % of intake under load, its page
        // cache reset by the pool table's commits, to spare a recovery only
        // to a confirmed transaction posted again.
        if self.pool().contains(&tx.hash) {
            return Err(PolicyError::AlreadyKnown.into());
        }
        // Step 15 before taking any lock (the slow part), reported in order below.
        let signatures = check_signatures(&tx, &sighash);
        let store = self.store();
        let mut pool = self.pool();
        // A reloaded transaction passed the fee policy when it entered (or
        // returned from a disconnected block): only validity counts.
        let policy = if reload_seq.is_some() {
            Policy::Returning
        } else {
            Policy::Relay
        };
        let admitted = self.admit(&store, &mut pool, tx, signatures, reload_seq, policy)?;
        self.pool_changed(&pool);
        drop(pool);
        drop(store);
        // Group commit: this flush also writes what concurrent intakes queued.
        // The pool in memory is the truth while the node runs; a failed
        // write is logged, not turned into a refusal of a valid transaction.
        if let Err(e) = self.journal.flush() {
            tracing::error!("writing the mempool table: {e}");
        }
        tracing::debug!(hash = %admitted.hash, "transaction admitted");
        Ok(admitted)
    }

    /// The part of intake that needs the chain and the pool, both locked:
    /// `already_known`, steps 10–14, the step 15 result, then for
    /// [`Policy::Relay`] the relay fee and the chain limits; the bound; then
    /// the pool changes and its table change is queued.
    pub(super) fn admit(
        &self,
        store: &ChainStore,
        pool: &mut Mempool,
        tx: Transaction,
        signatures: Result<(), RuleError>,
        reload_seq: Option<u64>,
        policy: Policy,
    ) -> Result<Arc<Transaction>, TxRejected> {
        if pool.contains(&tx.hash)
            || state::transaction_location(store.connection(), &tx.hash)?.is_some()
        {
            return Err(PolicyError::AlreadyKnown.into());
        }
        let tip = store.tip()?;
        let view = PoolView {
            conn: store.connection(),
            pool,
        };
        check_inputs(&tx, &view, tip.height + 1, self.params.coinbase_maturity)??; // 10–13
        check_timestamp(&tx, self.now())?; // 14
        signatures?; // 15
        let size = tx.size();
        if policy == Policy::Relay {
            if tx.fee.units() < size as u64 {
                return Err(PolicyError::FeeTooLow {
                    paid_units: tx.fee.units(),
                    size,
                }
                .into());
            }
            pool.check_chain_limits(&tx)?;
        }
        // Everything to evict, descendants included.
        let evict = pool.make_room(&tx, size).ok_or(PolicyError::MempoolFull)?;
        let seq = reload_seq.unwrap_or_else(|| pool.next_seq());
        let json = match reload_seq {
            Some(_) => None, // reloaded from the table: already there
            None => {
                Some(serde_json::to_string(&tx).map_err(|e| StoreError::Corrupt(e.to_string()))?)
            }
        };
        for h in &evict {
            pool.remove_with_descendants(h);
        }
        let tx = Arc::new(tx);
        pool.insert_with_seq(tx.clone(), seq);
        let add = json.map(|json| PoolOp::Add {
            seq,
            hash: tx.hash,
            json,
        });
        self.journal
            .queue(evict.into_iter().map(PoolOp::Remove).chain(add));
        Ok(tx)
    }
}

/// Outputs as a new mempool transaction sees them: the active chain's
/// (spent when the chain or the pool spent them) and the pool's own.
struct PoolView<'a> {
    conn: &'a Connection,
    pool: &'a Mempool,
}

impl OutputView for PoolView<'_> {
    type Error = StoreError;

    fn output(&self, outpoint: &OutPoint) -> Result<Option<KnownOutput>, StoreError> {
        if let Some(o) = self.pool.output(outpoint) {
            return Ok(Some(o));
        }
        Ok(
            state::lookup_output(self.conn, outpoint)?.map(|o| KnownOutput {
                spent: o.spent || self.pool.spender(outpoint).is_some(),
                ..o
            }),
        )
    }
}
