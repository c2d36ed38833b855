//! Why a peer is left or banned (API.md §8 "Bad peers" and "Clocks"): one
//! enum of misbehaviours, the codes bans keep, and [`Leave`], what every
//! sync decision about a peer ends with when it ends early.

/// Why a peer is banned (API.md §8 "Bad peers"): a code, never the peer's
/// words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Misbehaviour {
    /// A block breaking a consensus rule.
    InvalidBlock,
    /// Headers that break a rule or do not link to what it was asked.
    InvalidHeaders,
    /// Its chain holds a block this node knows is invalid.
    KnownInvalid,
    /// It claimed work its headers did not show.
    WorkNotShown,
    /// An answer that is not the API's (malformed, oversized, a refusal
    /// without an error body, a peer list that is not one).
    MalformedAnswer,
    /// More than it was asked (headers beyond the limit).
    Unrequested,
    /// A ban restored from an older store, whose reason had no code.
    Unspecified,
}

impl Misbehaviour {
    pub const ALL: [Misbehaviour; 7] = [
        Misbehaviour::InvalidBlock,
        Misbehaviour::InvalidHeaders,
        Misbehaviour::KnownInvalid,
        Misbehaviour::WorkNotShown,
        Misbehaviour::MalformedAnswer,
        Misbehaviour::Unrequested,
        Misbehaviour::Unspecified,
    ];

    /// The code kept with the ban and logged.
    pub fn code(self) -> &'static str {
        match self {
            Misbehaviour::InvalidBlock => "invalid_block",
            Misbehaviour::InvalidHeaders => "invalid_headers",
            Misbehaviour::KnownInvalid => "known_invalid",
            Misbehaviour::WorkNotShown => "work_not_shown",
            Misbehaviour::MalformedAnswer => "malformed_answer",
            Misbehaviour::Unrequested => "unrequested",
            Misbehaviour::Unspecified => "unspecified",
        }
    }

    pub fn from_code(code: &str) -> Option<Misbehaviour> {
        Misbehaviour::ALL.into_iter().find(|m| m.code() == code)
    }
}

impl std::fmt::Display for Misbehaviour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// Why sync leaves a peer before it is done (API.md §8): a misbehaviour
/// (ban it), "not yet" (refused only because of this node's clock, which an
/// honest peer cannot help: no ban, tried again later), or silence (no
/// answer in time, or headers that never show more work: go on with
/// another peer, no ban).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Leave {
    #[error("{0}: {1}")]
    Ban(Misbehaviour, String),
    #[error("not yet: {0}")]
    NotYet(String),
    #[error("silent: {0}")]
    Silent(String),
}

impl Leave {
    /// This node's words for it.
    pub fn note(&self) -> &str {
        match self {
            Leave::Ban(_, note) | Leave::NotYet(note) | Leave::Silent(note) => note,
        }
    }

    /// The misbehaviour to ban for, if any.
    pub fn misbehaviour(&self) -> Option<Misbehaviour> {
        match self {
            Leave::Ban(m, _) => Some(*m),
            _ => None,
        }
    }
}
