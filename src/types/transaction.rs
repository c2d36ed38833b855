//! Transactions (PROTOCOL.md §4) and their canonical bytes (§2).

use serde::{Deserialize, Serialize};

use super::{Address, Amount, Hash, Signature};
use crate::hash::{TAG_OUTPUT, TAG_SIGHASH, TAG_TX, tagged_hash};

/// An input: spends output `(transaction_hash, output_index)` and repeats
/// that output's address, value and hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "p2p", derive(utoipa::ToSchema))]
pub struct Input {
    pub transaction_hash: Hash,
    pub output_index: u32,
    pub output_address: Address,
    pub output_value: Amount,
    pub output_hash: Hash,
    pub signature: Signature,
}

/// An output: pays `value` to `address`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "p2p", derive(utoipa::ToSchema))]
pub struct Output {
    pub index: u32,
    pub address: Address,
    pub value: Amount,
    pub hash: Hash,
}

/// A signed transfer (PROTOCOL.md §4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "p2p", derive(utoipa::ToSchema))]
pub struct Transaction {
    pub timestamp: u64,
    pub inputs: Vec<Input>,
    pub outputs: Vec<Output>,
    pub value: Amount,
    pub fee: Amount,
    pub hash: Hash,
}

/// The summary of a transaction that block and mempool listings show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "p2p", derive(utoipa::ToSchema))]
pub struct TransactionHeader {
    pub timestamp: u64,
    pub value: Amount,
    pub fee: Amount,
    pub hash: Hash,
}

/// An output of a transaction, as an input names what it spends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OutPoint {
    pub transaction_hash: Hash,
    pub output_index: u32,
}

impl OutPoint {
    pub fn new(transaction_hash: Hash, output_index: u32) -> OutPoint {
        OutPoint {
            transaction_hash,
            output_index,
        }
    }
}

/// Bytes of one input in the transaction body, before its signature.
const INPUT_BODY_LEN: usize = 32 + 4 + 20 + 8 + 32;
/// Bytes of one output in the transaction body.
const OUTPUT_BODY_LEN: usize = 4 + 20 + 8 + 32;

/// `H("cinder-output", u32 index ‖ address ‖ u64 value)`.
pub fn output_hash(index: u32, address: &Address, value: Amount) -> Hash {
    tagged_hash(
        TAG_OUTPUT,
        &[
            &index.to_le_bytes(),
            &address.0,
            &value.units().to_le_bytes(),
        ],
    )
}

impl Input {
    /// The output this input spends.
    pub fn outpoint(&self) -> OutPoint {
        OutPoint::new(self.transaction_hash, self.output_index)
    }

    /// An unsigned input spending output `output_index` of `transaction_hash`,
    /// which paid `value` to `address` (its hash is derived).
    pub fn spending(
        transaction_hash: Hash,
        output_index: u32,
        address: Address,
        value: Amount,
    ) -> Input {
        Input {
            transaction_hash,
            output_index,
            output_address: address,
            output_value: value,
            output_hash: output_hash(output_index, &address, value),
            signature: Signature::ZERO,
        }
    }
}

impl Output {
    /// Builds an output with its hash.
    pub fn new(index: u32, address: Address, value: Amount) -> Output {
        Output {
            index,
            address,
            value,
            hash: output_hash(index, &address, value),
        }
    }

    /// The hash this output must carry.
    pub fn compute_hash(&self) -> Hash {
        output_hash(self.index, &self.address, self.value)
    }
}

impl Transaction {
    /// Length of the transaction body for given counts (PROTOCOL.md §2).
    pub const fn body_len(n_inputs: usize, n_outputs: usize) -> usize {
        8 + 4 + n_inputs * INPUT_BODY_LEN + 4 + n_outputs * OUTPUT_BODY_LEN + 8 + 8
    }

    /// Size for fee rates and limits: body + 65 bytes per input (§4). A
    /// wallet knows it before signing.
    pub const fn size_for(n_inputs: usize, n_outputs: usize) -> usize {
        Self::body_len(n_inputs, n_outputs) + 65 * n_inputs
    }

    pub fn size(&self) -> usize {
        Self::size_for(self.inputs.len(), self.outputs.len())
    }

    /// The canonical transaction body (§2): everything but signatures and hash.
    pub fn body(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(Self::body_len(self.inputs.len(), self.outputs.len()));
        b.extend_from_slice(&self.timestamp.to_le_bytes());
        b.extend_from_slice(&(self.inputs.len() as u32).to_le_bytes());
        for i in &self.inputs {
            b.extend_from_slice(&i.transaction_hash.0);
            b.extend_from_slice(&i.output_index.to_le_bytes());
            b.extend_from_slice(&i.output_address.0);
            b.extend_from_slice(&i.output_value.units().to_le_bytes());
            b.extend_from_slice(&i.output_hash.0);
        }
        b.extend_from_slice(&(self.outputs.len() as u32).to_le_bytes());
        for o in &self.outputs {
            b.extend_from_slice(&o.index.to_le_bytes());
            b.extend_from_slice(&o.address.0);
            b.extend_from_slice(&o.value.units().to_le_bytes());
            b.extend_from_slice(&o.hash.0);
        }
        b.extend_from_slice(&self.value.units().to_le_bytes());
        b.extend_from_slice(&self.fee.units().to_le_bytes());
        b
    }

    /// What every input signs: `H("cinder-sighash", body)`.
    pub fn sighash(&self) -> Hash {
        tagged_hash(TAG_SIGHASH, &[&self.body()])
    }

    /// The hash this transaction must carry, from its sighash.
    pub fn hash_with_sighash(&self, sighash: &Hash) -> Hash {
        let mut parts: Vec<&[u8]> = Vec::with_capacity(1 + self.inputs.len());
        parts.push(&sighash.0);
        for input in &self.inputs {
            parts.push(&input.signature.0);
        }
        tagged_hash(TAG_TX, &parts)
    }

    /// The hash this transaction must carry.
    pub fn compute_hash(&self) -> Hash {
        self.hash_with_sighash(&self.sighash())
    }

    pub fn header(&self) -> TransactionHeader {
        TransactionHeader {
            timestamp: self.timestamp,
            value: self.value,
            fee: self.fee,
            hash: self.hash,
        }
    }

    /// True for the shape of a coinbase: one input with an all-zero
    /// `transaction_hash`.
    pub fn looks_like_coinbase(&self) -> bool {
        self.inputs.len() == 1 && self.inputs[0].transaction_hash.is_zero()
    }

    /// An unsigned transaction spending `inputs` to `outputs` (indexed 0, 1,
    /// …): `value` is the outputs' sum and `fee` what the inputs leave.
    /// `None` when the outputs exceed the inputs.
    pub fn unsigned(
        timestamp: u64,
        inputs: Vec<Input>,
        outputs: &[(Address, Amount)],
    ) -> Option<Transaction> {
        let outputs: Vec<Output> = outputs
            .iter()
            .enumerate()
            .map(|(i, (address, value))| Output::new(i as u32, *address, *value))
            .collect();
        let value = outputs
            .iter()
            .try_fold(Amount::ZERO, |sum, o| sum.checked_add(o.value))?;
        let total = inputs
            .iter()
            .try_fold(Amount::ZERO, |sum, i| sum.checked_add(i.output_value))?;
        let fee = total.checked_sub(value)?;
        Some(Transaction {
            timestamp,
            inputs,
            outputs,
            value,
            fee,
            hash: Hash::ZERO,
        })
    }

    /// Signs input `i` with the key `key_for(i, input)` gives, then sets the
    /// hash. Every input signs the same sighash (PROTOCOL.md §2).
    pub fn sign_with<E>(
        &mut self,
        mut key_for: impl FnMut(usize, &Input) -> Result<crate::crypto::SecretKey, E>,
    ) -> Result<(), E> {
        let sighash = self.sighash();
        for (i, input) in self.inputs.iter_mut().enumerate() {
            input.signature = key_for(i, input)?.sign(&sighash);
        }
        self.hash = self.hash_with_sighash(&sighash);
        Ok(())
    }

    /// Signs every input with `key`, then sets the hash.
    pub fn sign_all(&mut self, key: &crate::crypto::SecretKey) {
        let sighash = self.sighash();
        for input in &mut self.inputs {
            input.signature = key.sign(&sighash);
        }
        self.hash = self.hash_with_sighash(&sighash);
    }

    /// The coinbase of a block at `height` paying `creator` (PROTOCOL.md §5).
    pub fn coinbase(height: u64, timestamp: u64, creator: Address, amount: Amount) -> Transaction {
        let output = Output::new(0, creator, amount);
        let mut tx = Transaction {
            timestamp,
            inputs: vec![Input {
                transaction_hash: Hash::ZERO,
                // The height in the input makes every coinbase hash unique.
                // Heights beyond u32 wrap here exactly as the protocol's u32 field does.
                output_index: height as u32,
                output_address: Address::ZERO,
                output_value: amount,
                output_hash: Hash::ZERO,
                signature: Signature::ZERO,
            }],
            outputs: vec![output],
            value: amount,
            fee: Amount::ZERO,
            hash: Hash::ZERO,
        };
        tx.hash = tx.compute_hash();
        tx
    }
}
