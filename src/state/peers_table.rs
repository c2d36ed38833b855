//! The peer book in the chain database (migration 0004): what
//! [`PeerStore`] means for a full node. A connection of its own, used only
//! from the saver's blocking thread.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, params};

use super::{StoreError, open_connection};
use crate::p2p::store::{PeerStore, PeerStoreError, SavedBan, SavedPeers};
use crate::wire::NodeAddr;

/// `known_nodes` and `banned_nodes`.
pub struct SqlitePeerStore {
    conn: Mutex<Connection>,
}

impl SqlitePeerStore {
    /// A connection to the (already migrated) database at `path`.
    pub fn open(path: &Path) -> Result<SqlitePeerStore, StoreError> {
        Ok(SqlitePeerStore {
            conn: Mutex::new(open_connection(path)?),
        })
    }
}

fn node_of(ip: String, port: i64) -> Result<NodeAddr, PeerStoreError> {
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| PeerStoreError(format!("stored node address {ip:?} is not an IP")))?;
    let port = u16::try_from(port)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| PeerStoreError(format!("stored node port {port} is not 1-65535")))?;
    Ok(NodeAddr::new(ip, port))
}

fn sql(e: rusqlite::Error) -> PeerStoreError {
    PeerStoreError(format!("peer tables: {e}"))
}

impl PeerStore for SqlitePeerStore {
    fn load(&self) -> Result<SavedPeers, PeerStoreError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let mut saved = SavedPeers::default();
        let mut known = conn
            .prepare("SELECT ip_address, port FROM known_nodes")
            .map_err(sql)?;
        let rows = known
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(sql)?;
        for row in rows {
            let (ip, port) = row.map_err(sql)?;
            saved.known.push(node_of(ip, port)?);
        }
        let mut banned = conn
            .prepare("SELECT ip_address, port, until_ms, reason FROM banned_nodes")
            .map_err(sql)?;
        let rows = banned
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(sql)?;
        for row in rows {
            let (ip, port, until, reason) = row.map_err(sql)?;
            saved.banned.push(SavedBan {
                node: node_of(ip, port)?,
                until: u64::try_from(until).unwrap_or(0),
                reason,
            });
        }
        Ok(saved)
    }

    fn save(&self, peers: &SavedPeers) -> Result<(), PeerStoreError> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction().map_err(sql)?;
        tx.execute("DELETE FROM known_nodes", []).map_err(sql)?;
        tx.execute("DELETE FROM banned_nodes", []).map_err(sql)?;
        {
            let mut known = tx
                .prepare("INSERT OR REPLACE INTO known_nodes (ip_address, port) VALUES (?1, ?2)")
                .map_err(sql)?;
            for node in &peers.known {
                known
                    .execute(params![node.ip().to_string(), i64::from(node.port())])
                    .map_err(sql)?;
            }
            let mut banned = tx
                .prepare(
                    "INSERT OR REPLACE INTO banned_nodes (ip_address, port, until_ms, reason)
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(sql)?;
            for ban in &peers.banned {
                banned
                    .execute(params![
                        ban.node.ip().to_string(),
                        i64::from(ban.node.port()),
                        i64::try_from(ban.until).unwrap_or(i64::MAX),
                        ban.reason,
                    ])
                    .map_err(sql)?;
            }
        }
        tx.commit().map_err(sql)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::ChainParams;
    use crate::state::ChainStore;

    #[test]
    fn known_and_banned_nodes_round_trip_through_the_database() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("chain.sqlite");
        ChainStore::open(&path, &ChainParams::regtest()).expect("migrated");
        let store = SqlitePeerStore::open(&path).expect("opens");
        assert_eq!(store.load().expect("empty"), SavedPeers::default());
        let saved = SavedPeers {
            known: vec![
                "127.0.0.1:50001".parse().expect("node"),
                "[::1]:50002".parse().expect("node"),
            ],
            banned: vec![SavedBan {
                node: "127.0.0.1:50003".parse().expect("node"),
                until: 1_800_000_000_000,
                reason: "sent a block with bad proof of work".into(),
            }],
        };
        store.save(&saved).expect("saves");
        let mut loaded = store.load().expect("loads");
        loaded.known.sort();
        let mut expected = saved.clone();
        expected.known.sort();
        assert_eq!(loaded, expected);
        // Saving replaces.
        store.save(&SavedPeers::default()).expect("saves");
        assert_eq!(store.load().expect("loads"), SavedPeers::default());
    }
}
