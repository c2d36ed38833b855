//! The network: decisions without sockets (a clock passed in), and thin
//! drivers that carry them out over [`crate::client`].

pub mod relay;
#[cfg(feature = "node")]
pub mod relay_driver;
pub mod sync;
#[cfg(feature = "node")]
pub mod sync_driver;
