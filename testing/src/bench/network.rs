//! The network lab's figures: several nodes, peers and sync. Not built yet
//! (issue 23's second part): each figure is reported as not measured, so
//! a missing measurement never passes for a met goal.
//!
//! Where the lab goes: start a serving `full-node` on a chain prepared as
//! in [`super::http`], start a second, empty one pointed at it, and take
//! the figures below from the second; [`super::process::peak_rss_mib`]
//! reads the peak RSS (`VmHWM`) of a node process.

use super::report::{Figure, Goal};

/// Peak RSS goal of a node during the sync (issue 23).
const SYNC_RSS_GOAL_MIB: f64 = 200.0;

/// `full-node` peak RSS while it syncs a long chain from a peer.
///
/// TODO(network lab): `full-node` does not sync on this branch yet. Once
/// it does: prepare a serving node (see `http::figures`), start an empty
/// node that syncs from it, wait for equal tips, and report
/// `peak_rss_mib(syncing.pid())` with the sync's blocks/s in the note.
pub fn sync_peak_rss() -> Figure {
    Figure::not_measured(
        "full-node peak RSS during the sync",
        "MiB",
        Goal::AtMost(SYNC_RSS_GOAL_MIB),
        "not measured yet: full-node does not sync on this branch (network lab, TODO)",
    )
}
