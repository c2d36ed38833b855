//! Fixed-size byte values written in JSON as lowercase hex (PROTOCOL.md §1):
//! `Hash`, `Address`, `Signature`, `Target`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a text is not the expected hex value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} must be {digits} lowercase hex digits{prefix}, got {text:?}")]
pub struct HexError {
    pub what: &'static str,
    pub digits: usize,
    pub prefix: &'static str,
    pub text: String,
}

/// Decodes exactly `out.len()` bytes of lowercase hex.
fn decode_lower_hex(text: &str, out: &mut [u8]) -> bool {
    text.len() == out.len() * 2
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && hex::decode_to_slice(text, out).is_ok()
}

macro_rules! hex_bytes {
    ($(#[$doc:meta])* $name:ident, $len:expr, $what:expr, $prefix:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            pub const LEN: usize = $len;
            pub const ZERO: $name = $name([0u8; $len]);

            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            pub fn is_zero(&self) -> bool {
                self.0 == [0u8; $len]
            }
        }

        impl FromStr for $name {
            type Err = HexError;
            fn from_str(text: &str) -> Result<Self, HexError> {
                let err = || HexError {
                    what: $what,
                    digits: $len * 2,
                    prefix: if $prefix.is_empty() { "" } else { " after 0x" },
                    text: text.chars().take(200).collect(),
                };
                let digits = text.strip_prefix($prefix).ok_or_else(err)?;
                let mut out = [0u8; $len];
                if decode_lower_hex(digits, &mut out) {
                    Ok($name(out))
                } else {
                    Err(err())
                }
            }
        }

        impl $name {
            /// The text form (prefix and lowercase hex) in `buf`, without
            /// allocating: every block and answer writes many of these.
            fn write_text<'b>(&self, buf: &'b mut [u8; $prefix.len() + 2 * $len]) -> &'b str {
                buf[..$prefix.len()].copy_from_slice($prefix.as_bytes());
                hex::encode_to_slice(self.0, &mut buf[$prefix.len()..])
                    .expect("the buffer holds two digits a byte");
                std::str::from_utf8(buf).expect("a prefix and hex digits are ASCII")
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut buf = [0u8; $prefix.len() + 2 * $len];
                f.write_str(self.write_text(&mut buf))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut buf = [0u8; $prefix.len() + 2 * $len];
                s.serialize_str(self.write_text(&mut buf))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Visitor;
                impl serde::de::Visitor<'_> for Visitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "{} as {} lowercase hex digits", $what, $len * 2)
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        v.parse().map_err(E::custom)
                    }
                }
                d.deserialize_str(Visitor)
            }
        }
    };
}

hex_bytes!(
    /// A 32-byte hash (transaction, block, output, merkle, sighash).
    Hash, 32, "hash", ""
);
hex_bytes!(
    /// A 20-byte address: RIPEMD-160(SHA-256(compressed public key)),
    /// written `0x` + 40 lowercase hex.
    Address, 20, "address", "0x"
);
hex_bytes!(
    /// A 65-byte recoverable signature: r ‖ s ‖ v (PROTOCOL.md §1).
    Signature, 65, "signature", ""
);
hex_bytes!(
    /// A proof-of-work target: a 256-bit big-endian integer.
    Target, 32, "target", ""
);

impl Address {
    /// The mixed-case checksummed form wallets display (PROTOCOL.md §1):
    /// EIP-55 with SHA-256 of the lowercase hex digits.
    pub fn to_checksummed(&self) -> String {
        let lower = hex::encode(self.0);
        let digest = crate::hash::sha256(lower.as_bytes());
        let mut out = String::with_capacity(42);
        out.push_str("0x");
        for (i, c) in lower.chars().enumerate() {
            let nibble = (digest[i / 2] >> if i % 2 == 0 { 4 } else { 0 }) & 0x0f;
            out.push(if c.is_ascii_alphabetic() && nibble >= 8 {
                c.to_ascii_uppercase()
            } else {
                c
            });
        }
        out
    }

    /// Parses an address as a user typed it: all lowercase, or mixed case
    /// with a correct checksum (a typo must not lose coins).
    pub fn parse_checked(text: &str) -> Result<Address, AddressInputError> {
        let trimmed = text.trim();
        let Some(digits) = trimmed
            .strip_prefix("0x")
            .or_else(|| trimmed.strip_prefix("0X"))
        else {
            return Err(AddressInputError::Malformed(trimmed.to_string()));
        };
        if digits.len() != 40 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AddressInputError::Malformed(trimmed.to_string()));
        }
        let lower = digits.to_ascii_lowercase();
        let address: Address = format!("0x{lower}")
            .parse()
            .map_err(|_| AddressInputError::Malformed(trimmed.to_string()))?;
        if digits == lower {
            return Ok(address);
        }
        if address.to_checksummed()[2..] == *digits {
            Ok(address)
        } else {
            Err(AddressInputError::BadChecksum(trimmed.to_string()))
        }
    }
}

/// Why a typed address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressInputError {
    #[error("malformed address {0:?}: expected 0x and 40 hex digits")]
    Malformed(String),
    #[error("address {0:?} has a wrong checksum (a typo?): type it again or use all lowercase")]
    BadChecksum(String),
}

impl Target {
    pub fn to_u256(&self) -> primitive_types::U256 {
        primitive_types::U256::from_big_endian(&self.0)
    }

    pub fn from_u256(value: primitive_types::U256) -> Target {
        Target(value.to_big_endian())
    }
}

impl Hash {
    /// True when the hash, read as a 256-bit big-endian integer, is at most
    /// `target` (PROTOCOL.md §6 step 4). Byte arrays compare big-endian.
    pub fn meets(&self, target: &Target) -> bool {
        self.0 <= target.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_strict() {
        let h = "ab".repeat(32);
        assert!(h.parse::<Hash>().is_ok());
        assert!(h.to_uppercase().parse::<Hash>().is_err());
        assert!("ab".repeat(31).parse::<Hash>().is_err());
        assert!(format!("0x{}", "ab".repeat(20)).parse::<Address>().is_ok());
        assert!("ab".repeat(20).parse::<Address>().is_err());
        assert!(format!("0x{}", "AB".repeat(20)).parse::<Address>().is_err());
        assert!(format!("0x{}g", "a".repeat(39)).parse::<Address>().is_err());
    }

    #[test]
    fn checksum_input() {
        let a: Address = "0x3a2d4145a4f098523b3e8127f1da87cfc55b8e79"
            .parse()
            .unwrap();
        let shown = a.to_checksummed();
        assert_eq!(shown, "0x3A2d4145a4F098523b3e8127f1da87cfC55B8E79");
        assert_eq!(Address::parse_checked(&shown), Ok(a));
        assert_eq!(Address::parse_checked(&a.to_string()), Ok(a));
        let typo = shown.replacen("3A2d", "3a2D", 1);
        assert!(matches!(
            Address::parse_checked(&typo),
            Err(AddressInputError::BadChecksum(_))
        ));
        assert!(matches!(
            Address::parse_checked("0x12"),
            Err(AddressInputError::Malformed(_))
        ));
    }

    #[test]
    fn pow_compare() {
        let t = Target([0x0f; 32]);
        assert!(Hash([0x0f; 32]).meets(&t));
        let mut above = [0x0f; 32];
        above[31] = 0x10;
        assert!(!Hash(above).meets(&t));
    }
}
