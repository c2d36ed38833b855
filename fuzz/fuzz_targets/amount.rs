//! Amounts (PROTOCOL.md §1) from arbitrary bytes, as text (what a user
//! types, what a JSON number holds) and as JSON: no panic; the parser
//! agrees with a plain reference of the rule (digits, at most 8 decimals,
//! no sign or exponent, at most MAX_MONEY); what parses is written in its
//! shortest plain form, which parses back to the same amount. The signed
//! amounts of the API (`delta`) and the work (`total_work`) likewise.
#![no_main]

use cinder::types::{Amount, SignedAmount};
use cinder::wire::Work;
use libfuzzer_sys::fuzz_target;

/// The rule of PROTOCOL.md §1, written a second time: units, or `None`.
fn reference_units(text: &str) -> Option<u64> {
    let (whole, frac) = match text.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (text, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (whole.len() > 1 && whole.starts_with('0')) {
        return None;
    }
    let mut units: u128 = 0;
    if whole.len() > 20 {
        return None; // above MAX_MONEY whatever follows
    }
    for b in whole.bytes() {
        units = units * 10 + u128::from(b - b'0');
    }
    units *= 100_000_000;
    if let Some(f) = frac {
        if !digits(f) || f.len() > 8 {
            return None;
        }
        let padded = format!("{f:0<8}");
        units += padded.parse::<u128>().expect("8 digits");
    }
    (units <= u128::from(Amount::MAX_MONEY.units())).then_some(units as u64)
}

/// The shortest plain form of `units` (§1: `1.5`, `2`, `0.00000001`).
fn shortest(units: u64) -> String {
    let whole = units / 100_000_000;
    let frac = units % 100_000_000;
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{}", format!("{frac:08}").trim_end_matches('0'))
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let parsed = Amount::parse(text);
        assert_eq!(
            parsed.as_ref().ok().map(|a| a.units()),
            reference_units(text),
            "Amount::parse({text:?}) = {parsed:?}"
        );
        if let Ok(a) = parsed {
            let written = a.to_string();
            assert_eq!(written, shortest(a.units()));
            assert_eq!(Amount::parse(&written), Ok(a));
        }
        let signed = SignedAmount::parse(text);
        let expected = match text.strip_prefix('-') {
            Some(rest) => reference_units(rest).map(|u| -(u as i64)),
            None => reference_units(text).map(|u| u as i64),
        };
        assert_eq!(
            signed.as_ref().ok().map(|s| s.units()),
            expected,
            "{text:?}"
        );
        if let Ok(s) = signed {
            let written = s.to_string();
            assert_eq!(SignedAmount::parse(&written), Ok(s));
            assert_eq!(written.starts_with('-'), s.is_negative());
        }
    }
    // As JSON: a number's exact text, never a float.
    if let Ok(a) = serde_json::from_slice::<Amount>(data) {
        let text = cinder_fuzz::json_round_trip(&a);
        assert_eq!(text, a.to_string());
        let number: serde_json::Number = serde_json::from_slice(data).expect("a number");
        assert_eq!(reference_units(number.as_str()), Some(a.units()));
    }
    if let Ok(s) = serde_json::from_slice::<SignedAmount>(data) {
        let text = cinder_fuzz::json_round_trip(&s);
        assert_eq!(text, s.to_string());
    }
    if let Ok(w) = serde_json::from_slice::<Work>(data) {
        let text = cinder_fuzz::json_round_trip(&w);
        assert_eq!(text, format!("\"{}\"", w.0));
    }
});
