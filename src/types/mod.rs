//! Protocol types (PROTOCOL.md §1): exact amounts, hex values, transactions
//! and blocks, with strict JSON (unknown, missing or duplicate fields and
//! wrong types are errors) and their canonical bytes.

mod amount;
mod block;
mod bytes;
mod signed_amount;
mod transaction;

pub use amount::{Amount, AmountError, COIN};
pub use block::{Block, BlockHeader, BlockSummary, HEADER_LEN, HeaderHasher, NONCE_OFFSET};
pub use bytes::{Address, AddressInputError, Hash, HexError, Signature, Target};
pub use signed_amount::SignedAmount;
pub use transaction::{Input, OutPoint, Output, Transaction, TransactionHeader, output_hash};
