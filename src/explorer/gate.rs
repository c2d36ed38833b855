//! Bounds on the answers that stay open for as long as their client reads
//! (the event streams, the CSV downloads): at most so many at once, and at
//! most so many from one IP, so that one client cannot take every place.
//! Loopback and other local addresses count too (unlike the node's
//! connection share, API.md §8): a proxy in front of the node would
//! otherwise make every client one uncounted IP.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::http::StatusCode;

use super::PageError;
use crate::api::connections::{ConnectionCounter, ConnectionSlot};

/// Places for one kind of open answer.
#[derive(Clone)]
pub struct Gate {
    /// What the places are for, in the plural (`event streams`).
    what: &'static str,
    open: Arc<AtomicUsize>,
    max: usize,
    per_ip: Arc<ConnectionCounter>,
    max_per_ip: usize,
}

/// One answer's place; freed when dropped (with the answer's body).
pub struct Pass {
    _ip: Option<ConnectionSlot>,
    _all: Taken,
}

/// One place among all of them.
struct Taken(Arc<AtomicUsize>);

impl Drop for Taken {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Gate {
    pub fn new(what: &'static str, max: usize, max_per_ip: usize) -> Gate {
        Gate {
            what,
            open: Arc::new(AtomicUsize::new(0)),
            max,
            per_ip: ConnectionCounter::new(max_per_ip, true),
            max_per_ip,
        }
    }

    /// Places taken now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// A place for a client at `ip` (`None`: not known, counted as one
    /// IP), or the `503` page saying which bound it met.
    pub fn enter(&self, ip: Option<IpAddr>) -> Result<Pass, PageError> {
        let taken = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            });
        if taken.is_err() {
            return Err(PageError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("At most {} {} are open at once.", self.max, self.what),
            ));
        }
        let all = Taken(self.open.clone());
        let slot = self
            .per_ip
            .open(ip.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)));
        if slot.over {
            return Err(PageError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "At most {} {} are open at once from one IP address.",
                    self.max_per_ip, self.what
                ),
            ));
        }
        Ok(Pass {
            _ip: Some(slot),
            _all: all,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_bounded_in_all_and_per_ip_and_freed() {
        let gate = Gate::new("things", 3, 2);
        let a: IpAddr = "127.0.0.1".parse().expect("ip");
        let b: IpAddr = "127.0.0.2".parse().expect("ip");
        let first = gate.enter(Some(a)).expect("a first place");
        let second = gate.enter(Some(a)).expect("a second place");
        let over = gate.enter(Some(a)).err().expect("a third from one IP");
        assert_eq!(over.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(over.message.contains("from one IP"), "{}", over.message);
        assert_eq!(gate.open(), 2, "a refused place is not kept");
        // The same IP as IPv4-mapped IPv6.
        assert!(
            gate.enter(Some("::ffff:127.0.0.1".parse().expect("ip")))
                .is_err()
        );
        let third = gate.enter(Some(b)).expect("another IP");
        let full = gate.enter(Some(b)).err().expect("all taken");
        assert!(
            full.message.contains("At most 3 things"),
            "{}",
            full.message
        );
        drop(first);
        assert_eq!(gate.open(), 2);
        let again = gate.enter(Some(a)).expect("a freed place");
        drop((second, third, again));
        assert_eq!(gate.open(), 0);
        assert_eq!(gate.per_ip.ips(), 0, "nothing kept of closed answers");
    }
}
