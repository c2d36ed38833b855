//! An in-memory [`NodeClient`] for tests.

use std::cell::RefCell;
use std::collections::HashMap;

use cinder::types::{Address, Amount, Hash, Input, Output, Signature, Transaction};
use zeroize::Zeroizing;

use crate::SignedAmount;
use crate::keys::{Secrets, WalletKeys};
use crate::node::{
    AddressHistoryEntry, AddressInfo, AddressMempoolEntry, ChainInfo, NodeClient, NodeError,
    UnspentOutput,
};

pub const MNEMONIC: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

pub fn test_keys() -> WalletKeys {
    Secrets::from_mnemonic(MNEMONIC, Zeroizing::new(String::new()))
        .unwrap()
        .keys()
        .unwrap()
}

#[derive(Default, Clone)]
struct FakeAddress {
    info: Option<AddressInfo>,
    mempool: Vec<AddressMempoolEntry>,
    history: Vec<AddressHistoryEntry>,
    utxos: Vec<UnspentOutput>,
}

#[derive(Default)]
struct State {
    addresses: HashMap<Address, FakeAddress>,
    mempool: HashMap<Hash, Transaction>,
    posted: Vec<Transaction>,
    reject: Option<(String, String)>,
}

pub struct FakeNode {
    pub chain: ChainInfo,
    state: RefCell<State>,
}

impl FakeNode {
    pub fn regtest(height: u64) -> FakeNode {
        FakeNode {
            chain: ChainInfo {
                name: "regtest".into(),
                height,
            },
            state: RefCell::default(),
        }
    }

    fn with<R>(
        &self,
        address: Address,
        f: impl FnOnce(&mut FakeAddress, &mut AddressInfo) -> R,
    ) -> R {
        let mut state = self.state.borrow_mut();
        let entry = state.addresses.entry(address).or_default();
        let mut info = entry
            .info
            .clone()
            .unwrap_or_else(|| AddressInfo::unused(address));
        let r = f(entry, &mut info);
        entry.info = Some(info);
        r
    }

    pub fn set_transaction_count(&self, address: Address, count: u64) {
        self.with(address, |_, info| info.transaction_count = count);
    }

    pub fn add_mempool_entry(&self, address: Address, hash: Hash, delta_units: i64) {
        self.with(address, |a, info| {
            a.mempool.push(AddressMempoolEntry {
                hash,
                timestamp: 1_763_800_000,
                delta: SignedAmount::from_units(delta_units),
            });
            info.unconfirmed_balance = info
                .unconfirmed_balance
                .saturating_add(SignedAmount::from_units(delta_units));
        });
    }

    pub fn add_history(&self, address: Address, hash: Hash, block_height: u64, delta_units: i64) {
        self.with(address, |a, info| {
            a.history.push(AddressHistoryEntry {
                hash,
                block_height,
                timestamp: 1_763_800_000 + block_height,
                delta: SignedAmount::from_units(delta_units),
            });
            a.history.sort_by_key(|e| std::cmp::Reverse(e.block_height));
            info.transaction_count += 1;
        });
    }

    /// A confirmed unspent output, counted in the address's balances.
    pub fn add_confirmed_output(
        &self,
        address: Address,
        transaction_hash: Hash,
        output_index: u32,
        units: u64,
        block_height: u64,
        coinbase: bool,
    ) {
        self.with(address, |a, info| {
            a.utxos.push(UnspentOutput {
                block_height: Some(block_height),
                transaction_hash,
                transaction_index: Some(if coinbase { 0 } else { 1 }),
                output_index,
                value: Amount::from_units(units),
                coinbase,
            });
            info.transaction_count += 1;
            info.balance = Amount::from_units(info.balance.units() + units);
            info.unconfirmed_balance = info
                .unconfirmed_balance
                .saturating_add(SignedAmount::credit(Amount::from_units(units)));
        });
    }

    /// An output of mempool transaction `transaction`, paying `address`.
    pub fn add_mempool_output(
        &self,
        address: Address,
        transaction: &Transaction,
        output_index: u32,
    ) {
        let output = &transaction.outputs[output_index as usize];
        let hash = transaction.hash;
        self.state
            .borrow_mut()
            .mempool
            .insert(hash, transaction.clone());
        self.with(address, |a, _| {
            a.utxos.push(UnspentOutput {
                block_height: None,
                transaction_hash: hash,
                transaction_index: None,
                output_index,
                value: output.value,
                coinbase: false,
            });
        });
        self.add_mempool_entry(address, hash, output.value.units() as i64);
    }

    pub fn reject_posts(&self, code: &str, message: &str) {
        self.state.borrow_mut().reject = Some((code.into(), message.into()));
    }

    pub fn posted(&self) -> Vec<Transaction> {
        self.state.borrow().posted.clone()
    }
}

/// A mempool transaction spending one output of `from`, paying `outputs`.
pub fn mempool_transaction(from: Address, outputs: &[(Address, u64)], seed: u8) -> Transaction {
    let total: u64 = outputs.iter().map(|o| o.1).sum();
    let mut tx = Transaction {
        timestamp: 1_763_800_000,
        inputs: vec![Input {
            transaction_hash: Hash([seed; 32]),
            output_index: 0,
            output_address: from,
            output_value: Amount::from_units(total + 1000),
            output_hash: Hash([seed; 32]),
            signature: Signature::ZERO,
        }],
        outputs: outputs
            .iter()
            .enumerate()
            .map(|(i, (a, v))| Output::new(i as u32, *a, Amount::from_units(*v)))
            .collect(),
        value: Amount::from_units(total),
        fee: Amount::from_units(1000),
        hash: Hash::ZERO,
    };
    tx.hash = tx.compute_hash();
    tx
}

impl NodeClient for FakeNode {
    fn url(&self) -> &str {
        "fake://node"
    }

    fn chain_info(&self) -> Result<ChainInfo, NodeError> {
        Ok(self.chain.clone())
    }

    fn unspent_outputs(&self, address: &Address) -> Result<Vec<UnspentOutput>, NodeError> {
        Ok(self
            .state
            .borrow()
            .addresses
            .get(address)
            .map(|a| a.utxos.clone())
            .unwrap_or_default())
    }

    fn address_info(&self, address: &Address) -> Result<AddressInfo, NodeError> {
        Ok(self
            .state
            .borrow()
            .addresses
            .get(address)
            .and_then(|a| a.info.clone())
            .unwrap_or_else(|| AddressInfo::unused(*address)))
    }

    fn address_mempool(&self, address: &Address) -> Result<Vec<AddressMempoolEntry>, NodeError> {
        Ok(self
            .state
            .borrow()
            .addresses
            .get(address)
            .map(|a| a.mempool.clone())
            .unwrap_or_default())
    }

    fn address_transactions(
        &self,
        address: &Address,
    ) -> Result<Vec<AddressHistoryEntry>, NodeError> {
        Ok(self
            .state
            .borrow()
            .addresses
            .get(address)
            .map(|a| a.history.clone())
            .unwrap_or_default())
    }

    fn mempool_transaction(&self, hash: &Hash) -> Result<Option<Transaction>, NodeError> {
        Ok(self.state.borrow().mempool.get(hash).cloned())
    }

    fn post_transaction(&self, transaction: &Transaction) -> Result<(), NodeError> {
        let mut state = self.state.borrow_mut();
        if let Some((code, message)) = state.reject.clone() {
            return Err(NodeError::RejectedTransaction { code, message });
        }
        state.posted.push(transaction.clone());
        Ok(())
    }
}

/// A node that never answers: every query fails as unreachable.
pub struct DownNode;

impl DownNode {
    pub const URL: &'static str = "http://127.0.0.1:1";

    fn down() -> NodeError {
        NodeError::Unreachable {
            url: Self::URL.into(),
            reason: "connection failed".into(),
        }
    }
}

impl NodeClient for DownNode {
    fn url(&self) -> &str {
        Self::URL
    }
    fn chain_info(&self) -> Result<ChainInfo, NodeError> {
        Err(Self::down())
    }
    fn unspent_outputs(&self, _: &Address) -> Result<Vec<UnspentOutput>, NodeError> {
        Err(Self::down())
    }
    fn address_info(&self, _: &Address) -> Result<AddressInfo, NodeError> {
        Err(Self::down())
    }
    fn address_mempool(&self, _: &Address) -> Result<Vec<AddressMempoolEntry>, NodeError> {
        Err(Self::down())
    }
    fn address_transactions(&self, _: &Address) -> Result<Vec<AddressHistoryEntry>, NodeError> {
        Err(Self::down())
    }
    fn mempool_transaction(&self, _: &Hash) -> Result<Option<Transaction>, NodeError> {
        Err(Self::down())
    }
    fn post_transaction(&self, _: &Transaction) -> Result<(), NodeError> {
        Err(Self::down())
    }
}
