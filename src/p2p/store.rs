//! Where the peer book is kept across restarts (API.md §1: "persisted";
//! §8: "known nodes and bans are kept in the data directory"). A trait, so
//! the full node keeps them in its chain database (`state::peers_table`)
//! while the seed, which links no database, keeps a JSON file.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::wire::NodeAddr;

/// A ban as kept on disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedBan {
    pub node: NodeAddr,
    /// Milliseconds since the Unix epoch.
    pub until: u64,
    pub reason: String,
}

/// Known nodes and bans.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedPeers {
    pub known: Vec<NodeAddr>,
    #[serde(default)]
    pub banned: Vec<SavedBan>,
}

/// Why the peer book could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PeerStoreError(pub String);

/// Keeps the peer book. `save` replaces everything saved before; both run
/// on a blocking thread, never on an async worker.
pub trait PeerStore: Send + Sync {
    fn load(&self) -> Result<SavedPeers, PeerStoreError>;
    fn save(&self, peers: &SavedPeers) -> Result<(), PeerStoreError>;
}

/// In memory: tests, and nodes served without a data directory.
#[derive(Debug, Default)]
pub struct MemoryStore(Mutex<SavedPeers>);

impl MemoryStore {
    pub fn new(saved: SavedPeers) -> MemoryStore {
        MemoryStore(Mutex::new(saved))
    }
}

impl PeerStore for MemoryStore {
    fn load(&self) -> Result<SavedPeers, PeerStoreError> {
        Ok(self.0.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }

    fn save(&self, peers: &SavedPeers) -> Result<(), PeerStoreError> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = peers.clone();
        Ok(())
    }
}

/// A JSON file written atomically (a temporary file, fsync, rename, fsync
/// of the directory): after a crash it holds the old list or the new one.
#[derive(Debug)]
pub struct JsonFileStore {
    path: PathBuf,
}

/// The seed's file in its data directory.
pub const NODES_FILE: &str = "nodes.json";

impl JsonFileStore {
    pub fn new(path: impl Into<PathBuf>) -> JsonFileStore {
        JsonFileStore { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write(&self, bytes: &[u8]) -> std::io::Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        {
            let mut file = File::create(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
        }
        fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent()
            && let Ok(dir) = File::open(dir)
        {
            // Makes the rename itself durable; not every platform can.
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

impl PeerStore for JsonFileStore {
    /// An absent file is an empty book; an unreadable one is an error.
    fn load(&self) -> Result<SavedPeers, PeerStoreError> {
        let text = match fs::read(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(SavedPeers::default());
            }
            Err(e) => {
                return Err(PeerStoreError(format!(
                    "cannot read {}: {e}",
                    self.path.display()
                )));
            }
        };
        serde_json::from_slice(&text).map_err(|e| {
            PeerStoreError(format!(
                "{} is not a list of nodes: {e}",
                self.path.display()
            ))
        })
    }

    fn save(&self, peers: &SavedPeers) -> Result<(), PeerStoreError> {
        let bytes = serde_json::to_vec_pretty(peers)
            .map_err(|e| PeerStoreError(format!("encoding the node list: {e}")))?;
        self.write(&bytes)
            .map_err(|e| PeerStoreError(format!("cannot write {}: {e}", self.path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_file_round_trips_and_an_absent_one_is_empty() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = JsonFileStore::new(dir.path().join(NODES_FILE));
        assert_eq!(
            store.load().expect("absent is empty"),
            SavedPeers::default()
        );
        let saved = SavedPeers {
            known: vec!["127.0.0.1:5".parse().expect("node")],
            banned: vec![SavedBan {
                node: "10.0.0.1:7".parse().expect("node"),
                until: 123,
                reason: "bad block".into(),
            }],
        };
        store.save(&saved).expect("saves");
        assert_eq!(store.load().expect("loads"), saved);
        assert!(!dir.path().join("nodes.json.tmp").exists());
        fs::write(store.path(), b"{not json").expect("write");
        assert!(store.load().is_err());
    }
}
