//! Links between simulated nodes: a one-way latency per pair of nodes and
//! an upload bandwidth per node, drawn from a documented distribution.
//!
//! - **lab**: every pair 20 ms one way (the lab's delay proxy,
//!   `testing/src/lab/proxy.rs`), 1 Gbit/s uploads (loopback).
//! - **geo**: each node is placed in a region drawn by the share of
//!   Bitcoin nodes there (SimBlock's 2019 figures: North America 33.16 %,
//!   Europe 49.98 %, South America 0.90 %, Asia-Pacific 11.77 %, Japan
//!   2.24 %, Australia 1.95 %). A pair's one-way latency is half of
//!   SimBlock's mean round-trip time between the two regions, times a
//!   factor fixed for the pair, uniform in [0.8, 1.2) (derived from the
//!   run's seed and the pair: nothing stored per pair). A node's upload
//!   bandwidth is its region's (SimBlock 2019, bits/s).
//!
//! Transmission: a node sends one message at a time on its uplink
//! (first in, first out); a message of `size` bytes holds it for
//! `size × 8 / bandwidth`, then travels for the pair's latency.

use crate::rng::{Rng, mix};

/// Where a node is, for the link figures.
pub type Region = u8;

/// The link model of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Lab,
    Geo,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Lab => "lab",
            Profile::Geo => "geo",
        }
    }
}

/// The lab's one-way delay, in microseconds.
pub const LAB_LATENCY_MICROS: u64 = 20_000;
/// The lab's uploads: loopback, 1 Gbit/s.
pub const LAB_UPLOAD_BPS: u64 = 1_000_000_000;

/// Regions of the geo profile.
pub const REGIONS: [&str; 6] = [
    "north america",
    "europe",
    "south america",
    "asia-pacific",
    "japan",
    "australia",
];
/// Share of nodes per region, in hundredths of a percent (sums to 10,000).
const REGION_SHARE: [u64; 6] = [3316, 4998, 90, 1177, 224, 195];
/// Mean round-trip time between regions, ms (SimBlock 2019).
const REGION_RTT_MS: [[u64; 6]; 6] = [
    [32, 124, 184, 198, 151, 189],
    [124, 11, 227, 237, 252, 294],
    [184, 227, 88, 325, 301, 322],
    [198, 237, 325, 85, 58, 198],
    [151, 252, 301, 58, 12, 126],
    [189, 294, 322, 198, 126, 16],
];
/// Upload bandwidth per region, bits/s (SimBlock 2019).
const REGION_UPLOAD_BPS: [u64; 6] = [
    19_200_000, 20_700_000, 5_800_000, 15_700_000, 10_200_000, 11_300_000,
];

/// The links of a run: each node's region and the pair latencies.
#[derive(Clone, Debug)]
pub struct Links {
    profile: Profile,
    /// Seeds the per-pair factors.
    salt: u64,
    regions: Vec<Region>,
}

impl Links {
    pub fn new(profile: Profile, salt: u64) -> Links {
        Links {
            profile,
            salt,
            regions: Vec::new(),
        }
    }

    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// Places the next node (its index is the count placed so far).
    pub fn place(&mut self, rng: &mut Rng) -> Region {
        let region = match self.profile {
            Profile::Lab => 0,
            Profile::Geo => {
                let mut draw = rng.below(10_000);
                let mut region = 0;
                for (r, share) in REGION_SHARE.iter().enumerate() {
                    if draw < *share {
                        region = r;
                        break;
                    }
                    draw -= share;
                }
                region as Region
            }
        };
        self.regions.push(region);
        region
    }

    pub fn region(&self, node: usize) -> Region {
        self.regions.get(node).copied().unwrap_or(0)
    }

    /// One-way latency from `a` to `b`, in microseconds (symmetric).
    pub fn latency_micros(&self, a: usize, b: usize) -> u64 {
        match self.profile {
            Profile::Lab => LAB_LATENCY_MICROS,
            Profile::Geo => {
                let (ra, rb) = (self.region(a) as usize, self.region(b) as usize);
                let one_way = REGION_RTT_MS[ra][rb] * 1_000 / 2;
                let (lo, hi) = (a.min(b) as u64, a.max(b) as u64);
                let pair = mix(self.salt ^ mix(lo.wrapping_mul(0x1_0000_0001) ^ hi));
                // A factor in [0.8, 1.2), in thousandths.
                let factor = 800 + pair % 400;
                one_way * factor / 1_000
            }
        }
    }

    /// Upload bandwidth of `node`, bits/s.
    pub fn upload_bps(&self, node: usize) -> u64 {
        match self.profile {
            Profile::Lab => LAB_UPLOAD_BPS,
            Profile::Geo => REGION_UPLOAD_BPS[self.region(node) as usize],
        }
    }

    /// How long `size` bytes hold `node`'s uplink, in microseconds (at
    /// least 1).
    pub fn transmit_micros(&self, node: usize, size: usize) -> u64 {
        transmit_micros(size, self.upload_bps(node))
    }
}

/// `size` bytes at `bps` bits/s, in microseconds, rounded up (at least 1).
pub fn transmit_micros(size: usize, bps: u64) -> u64 {
    let bits = size as u128 * 8 * 1_000_000;
    (bits.div_ceil(u128::from(bps.max(1))) as u64).max(1)
}

/// A node's uplink: messages leave one after another.
#[derive(Clone, Copy, Debug, Default)]
pub struct Uplink {
    free_at: u64,
}

impl Uplink {
    /// A message of `transmit` microseconds handed over at `now`: when its
    /// last byte has left (the uplink is busy until then).
    pub fn send(&mut self, now: u64, transmit: u64) -> u64 {
        let start = self.free_at.max(now);
        self.free_at = start + transmit;
        self.free_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lab_is_twenty_ms_everywhere() {
        let mut links = Links::new(Profile::Lab, 1);
        let mut rng = Rng::new(1);
        for _ in 0..4 {
            links.place(&mut rng);
        }
        assert_eq!(links.latency_micros(0, 3), 20_000);
        assert_eq!(links.latency_micros(2, 1), 20_000);
        // 100 KB over 1 Gbit/s: 800 µs.
        assert_eq!(links.transmit_micros(0, 100_000), 800);
    }

    #[test]
    fn geo_latency_is_symmetric_within_its_band_and_regions_follow_shares() {
        let mut links = Links::new(Profile::Geo, 42);
        let mut rng = Rng::new(9);
        let n = 5_000;
        for _ in 0..n {
            links.place(&mut rng);
        }
        let mut count = [0usize; 6];
        for i in 0..n {
            count[links.region(i) as usize] += 1;
        }
        // Europe and North America hold most nodes, in about their shares.
        assert!((2_300..2_700).contains(&count[1]), "{count:?}");
        assert!((1_500..1_850).contains(&count[0]), "{count:?}");
        for (a, b) in [(0, 1), (10, 4_000), (77, 78), (3, 3_333)] {
            let l = links.latency_micros(a, b);
            assert_eq!(l, links.latency_micros(b, a));
            let (ra, rb) = (links.region(a) as usize, links.region(b) as usize);
            let mean = REGION_RTT_MS[ra][rb] * 1_000 / 2;
            assert!(l >= mean * 8 / 10 && l < mean * 12 / 10, "{l} vs {mean}");
        }
        // Another salt, other pair factors.
        let other = Links {
            salt: 43,
            ..links.clone()
        };
        assert!((0..50).any(|i| other.latency_micros(i, i + 1) != links.latency_micros(i, i + 1)));
    }

    #[test]
    fn an_uplink_sends_one_message_after_another() {
        let mut up = Uplink::default();
        assert_eq!(up.send(100, 10), 110);
        assert_eq!(up.send(100, 10), 120, "queued behind the first");
        assert_eq!(up.send(500, 10), 510, "idle meanwhile");
        assert_eq!(transmit_micros(1, 8_000_000), 1);
        assert_eq!(transmit_micros(1_000_000, 8_000_000), 1_000_000);
        assert_eq!(transmit_micros(0, 1), 1, "at least a microsecond");
    }
}
