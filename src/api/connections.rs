//! Connections (API.md §8 "Connections"): at most
//! [`MAX_CONNECTIONS_PER_IP`] open at once from one global IP (local ones
//! are not counted), and the open-file limit raised to the hard limit at
//! start, so a stranger holding connections cannot take the descriptors
//! every other client needs.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::p2p::net::is_global;

/// Most connections served at once from one global IP.
pub const MAX_CONNECTIONS_PER_IP: usize = 256;

/// Open connections per IP, shared by a server's workers.
#[derive(Debug)]
pub struct ConnectionCounter {
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    limit: usize,
    /// Whether local (loopback, private…) addresses count too (tests).
    count_local: bool,
}

/// One open connection, counted until dropped (with the connection).
#[derive(Debug)]
pub struct ConnectionSlot {
    counted: Option<(IpAddr, Arc<ConnectionCounter>)>,
    /// The connection is beyond its IP's share: every request on it is
    /// answered `503` and the connection closed.
    pub over: bool,
}

impl ConnectionCounter {
    pub fn new(limit: usize, count_local: bool) -> Arc<ConnectionCounter> {
        Arc::new(ConnectionCounter {
            per_ip: Mutex::new(HashMap::new()),
            limit,
            count_local,
        })
    }

    /// A connection from `ip` opened.
    pub fn open(self: &Arc<Self>, ip: IpAddr) -> ConnectionSlot {
        let ip = ip.to_canonical();
        if !self.count_local && !is_global(ip) {
            return ConnectionSlot {
                counted: None,
                over: false,
            };
        }
        let mut map = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(ip).or_insert(0);
        *n += 1;
        ConnectionSlot {
            over: *n > self.limit,
            counted: Some((ip, self.clone())),
        }
    }

    /// Connections open from `ip`.
    pub fn count(&self, ip: IpAddr) -> usize {
        let map = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&ip.to_canonical()).copied().unwrap_or(0)
    }

    /// IPs with a connection open (the map never outgrows the connections).
    pub fn ips(&self) -> usize {
        self.per_ip.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        if let Some((ip, counter)) = self.counted.take() {
            let mut map = counter.per_ip.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(n) = map.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&ip);
                }
            }
        }
    }
}

/// Raises the soft open-file limit to the hard limit; returns both as they
/// are after (API.md §8 "Connections": logged at start).
#[cfg(unix)]
pub fn raise_open_file_limit() -> std::io::Result<(libc::rlim_t, libc::rlim_t)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    Ok((limit.rlim_cur, limit.rlim_max))
}

#[cfg(not(unix))]
pub fn raise_open_file_limit() -> std::io::Result<(u64, u64)> {
    Err(std::io::Error::other("not on this platform"))
}

/// Raises the limit and logs the outcome (one line at info).
pub fn raise_and_log_open_file_limit() {
    match raise_open_file_limit() {
        Ok((soft, hard)) => tracing::info!(soft, hard, "open-file limit"),
        Err(e) => tracing::warn!("cannot read the open-file limit: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_global_ip_gets_its_share_and_closed_connections_free_it() {
        let counter = ConnectionCounter::new(256, false);
        let ip: IpAddr = "8.8.8.8".parse().expect("ip");
        let mut slots: Vec<ConnectionSlot> = (0..256).map(|_| counter.open(ip)).collect();
        assert!(slots.iter().all(|s| !s.over));
        let extra = counter.open(ip);
        assert!(extra.over, "the 257th is over");
        // The same IP spelled as IPv4-mapped IPv6 is the same IP.
        assert!(counter.open("::ffff:8.8.8.8".parse().expect("ip")).over);
        // Another IP is not affected.
        assert!(!counter.open("8.8.4.4".parse().expect("ip")).over);
        drop(extra);
        slots.pop();
        assert_eq!(counter.count(ip), 255);
        assert!(!counter.open(ip).over);
        drop(slots);
        assert_eq!(counter.count(ip), 0);
        assert_eq!(counter.ips(), 0, "nothing kept of closed connections");
    }

    #[test]
    fn local_addresses_are_not_counted() {
        let counter = ConnectionCounter::new(1, false);
        let ip: IpAddr = "127.0.0.1".parse().expect("ip");
        let slots: Vec<ConnectionSlot> = (0..10).map(|_| counter.open(ip)).collect();
        assert!(slots.iter().all(|s| !s.over));
        assert_eq!(counter.count(ip), 0);
    }

    #[test]
    fn the_open_file_limit_is_raised_to_the_hard_limit() {
        let (soft, hard) = raise_open_file_limit().expect("readable");
        // An unlimited hard limit cannot be the open-file soft limit on
        // Linux (it is capped by nr_open): then the soft one stays.
        assert!(
            soft == hard || hard == libc::RLIM_INFINITY,
            "{soft} of {hard}"
        );
    }
}
