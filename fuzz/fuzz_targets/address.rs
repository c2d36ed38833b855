//! Addresses and the other hex values of PROTOCOL.md §1 from arbitrary
//! bytes: no panic; the strict JSON form (`0x` + 40 lowercase hex; 64 or
//! 130 lowercase hex) is exactly what parses, and writes back to the same
//! text; the display form's checksum (EIP-55 with SHA-256) is accepted
//! where a user types an address, a wrong one refused, and both forms
//! parse back to the same address. The first byte picks the value.
#![no_main]

use cinder::types::{Address, AddressInputError, Hash, Signature, Target};
use libfuzzer_sys::fuzz_target;

fn lower_hex(s: &str, digits: usize) -> bool {
    s.len() == digits
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The checksummed form, written a second time from §1.
fn checksummed(address: &Address) -> String {
    let lower = hex::encode(address.0);
    let digest = cinder::hash::sha256(lower.as_bytes());
    let mut out = String::from("0x");
    for (i, c) in lower.chars().enumerate() {
        let nibble = if i % 2 == 0 {
            digest[i / 2] >> 4
        } else {
            digest[i / 2] & 0xf
        };
        out.push(if nibble >= 8 {
            c.to_ascii_uppercase()
        } else {
            c
        });
    }
    out
}

fn strict<T>(text: &str, prefix: &str, digits: usize)
where
    T: std::str::FromStr + std::fmt::Display + serde::Serialize + serde::de::DeserializeOwned,
    T: PartialEq + std::fmt::Debug,
{
    let parsed = text.parse::<T>();
    let expected = text
        .strip_prefix(prefix)
        .is_some_and(|d| lower_hex(d, digits));
    assert_eq!(parsed.is_ok(), expected, "{text:?}");
    if let Ok(v) = parsed {
        assert_eq!(v.to_string(), text, "not written back as given");
        let json = cinder_fuzz::json_round_trip(&v);
        assert_eq!(json, format!("\"{text}\""));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match which % 6 {
        0 => strict::<Address>(text, "0x", 40),
        1 => strict::<Hash>(text, "", 64),
        2 => strict::<Signature>(text, "", 130),
        3 => strict::<Target>(text, "", 64),
        4 => {
            // As a user types it (wallet, flags; the API's paths below).
            let parsed = Address::parse_checked(text);
            let trimmed = text.trim();
            let digits = trimmed
                .strip_prefix("0x")
                .or_else(|| trimmed.strip_prefix("0X"));
            let well_formed =
                digits.is_some_and(|d| d.len() == 40 && d.bytes().all(|b| b.is_ascii_hexdigit()));
            match (&parsed, well_formed) {
                (Err(AddressInputError::Malformed(_)), false) => {}
                (Ok(a), true) => {
                    let d = digits.expect("well formed");
                    assert_eq!(hex::encode(a.0), d.to_ascii_lowercase());
                    assert!(
                        d == d.to_ascii_lowercase() || checksummed(a)[2..] == *d,
                        "{text:?} accepted with a wrong checksum"
                    );
                }
                (Err(AddressInputError::BadChecksum(_)), true) => {
                    let d = digits.expect("well formed");
                    let lower: Address = format!("0x{}", d.to_ascii_lowercase())
                        .parse()
                        .expect("hex");
                    assert_ne!(d, d.to_ascii_lowercase());
                    assert_ne!(
                        checksummed(&lower)[2..],
                        *d,
                        "{text:?} refused, checksum right"
                    );
                }
                (other, formed) => panic!("{text:?}: {other:?}, well formed: {formed}"),
            }
            if let Ok(a) = parsed {
                let shown = a.to_checksummed();
                assert_eq!(shown, checksummed(&a));
                assert_eq!(Address::parse_checked(&shown), Ok(a));
                assert_eq!(Address::parse_checked(&a.to_string()), Ok(a));
            }
        }
        _ => {
            // In a JSON body: only the lowercase form.
            if let Ok(a) = serde_json::from_slice::<Address>(rest) {
                let json = cinder_fuzz::json_round_trip(&a);
                assert!(lower_hex(&json[3..json.len() - 1], 40));
            }
        }
    }
});
