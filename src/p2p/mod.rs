//! The network: decisions without sockets (a clock passed in), and thin
//! drivers that carry them out over [`crate::client`].
//!
//! The address book (API.md §1, §8 "Peers"): [`peers`] decides, [`store`]
//! keeps it across restarts, [`address_book`] shares it between handlers
//! and tasks, [`peers_driver`] runs the rounds. Feature `p2p` (no chain
//! database) is what the seed links.

#[cfg(feature = "p2p")]
pub mod address_book;
pub mod memory_chain;
pub mod misbehaviour;
pub mod net;
pub mod peers;
#[cfg(feature = "p2p")]
pub mod peers_driver;
pub mod relay;
#[cfg(feature = "node")]
pub mod relay_driver;
pub mod store;
pub mod sync;
#[cfg(feature = "node")]
pub mod sync_driver;
pub mod sync_run;

#[cfg(feature = "p2p")]
pub use address_book::{
    AnnounceError, CheckFailure, CheckObserver, Clock, MAX_ANNOUNCED_CHECKS, Peers, PeersConfig,
    SEED_LISTING_LIMIT, SystemClock, check_node,
};
pub use misbehaviour::Leave;
pub use net::{AddrPolicy, BanKey, Group, group_of};
pub use peers::{Admission, Ban, BookConfig, Misbehaviour, Outcome, PeerBook, Refusal, Slot, Time};
pub use store::{JsonFileStore, MemoryStore, PeerStore, PeerStoreError, SavedPeers};
