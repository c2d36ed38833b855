//! `SignedAmount`: a signed change of balance. The protocol's `Amount` is
//! unsigned; the API writes the `delta` of an address's history and its
//! `unconfirmed_balance` as an amount with an optional minus sign (API.md
//! §5), the node computes them and the wallet sums and prints them.

use std::fmt;

use super::{Amount, AmountError};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A signed number of base units, written like an amount with an optional
/// leading `-` (`-1.2`, `0.5`, `0`).
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SignedAmount(i64);

impl SignedAmount {
    pub const ZERO: SignedAmount = SignedAmount(0);

    pub const fn from_units(units: i64) -> SignedAmount {
        SignedAmount(units)
    }

    pub const fn units(self) -> i64 {
        self.0
    }

    /// `amount` as a positive change.
    pub fn credit(amount: Amount) -> SignedAmount {
        // MAX_MONEY-bounded amounts fit; larger ones saturate rather than wrap.
        SignedAmount(i64::try_from(amount.units()).unwrap_or(i64::MAX))
    }

    /// `amount` as a negative change.
    pub fn debit(amount: Amount) -> SignedAmount {
        SignedAmount(-Self::credit(amount).0)
    }

    /// `a - b` of two amounts.
    pub fn difference(a: Amount, b: Amount) -> SignedAmount {
        SignedAmount(Self::credit(a).0.saturating_sub(Self::credit(b).0))
    }

    pub fn saturating_add(self, other: SignedAmount) -> SignedAmount {
        SignedAmount(self.0.saturating_add(other.0))
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// The magnitude as an unsigned amount.
    pub fn magnitude(self) -> Amount {
        Amount::from_units(self.0.unsigned_abs())
    }

    /// Parses the exact text of a JSON number: an optional `-`, then an
    /// amount (PROTOCOL.md §1 digits, at most 8 decimals, no exponent).
    pub fn parse(text: &str) -> Result<SignedAmount, AmountError> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let magnitude = SignedAmount::credit(Amount::parse(digits)?);
        Ok(if negative {
            SignedAmount(-magnitude.0)
        } else {
            magnitude
        })
    }

    /// With an explicit `+` on positive values, for history listings.
    pub fn to_string_with_sign(self) -> String {
        if self.0 > 0 {
            format!("+{self}")
        } else {
            self.to_string()
        }
    }
}

impl fmt::Display for SignedAmount {
    /// `-1.2`, `0.5`, `0`: the amount's shortest form with a sign when negative.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 0 {
            write!(f, "-{}", self.magnitude())
        } else {
            write!(f, "{}", self.magnitude())
        }
    }
}

impl Serialize for SignedAmount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // With serde_json's `arbitrary_precision`, a Number made from text is
        // written as that exact text.
        serde_json::Number::from_string_unchecked(self.to_string()).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SignedAmount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let number = serde_json::Number::deserialize(deserializer)?;
        SignedAmount::parse(number.as_str()).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn text_round_trip(units in -(Amount::MAX_MONEY.units() as i64)..=Amount::MAX_MONEY.units() as i64) {
            let a = SignedAmount::from_units(units);
            prop_assert_eq!(SignedAmount::parse(&a.to_string()), Ok(a));
            let json = serde_json::to_string(&a).unwrap();
            prop_assert_eq!(serde_json::from_str::<SignedAmount>(&json).unwrap(), a);
        }
    }

    #[test]
    fn parses_and_writes_signed_amounts_exactly() {
        for (text, units) in [
            ("-1.2", -120_000_000),
            ("0.5", 50_000_000),
            ("0", 0),
            ("-0.00000001", -1),
        ] {
            let value = SignedAmount::parse(text).expect("a signed amount");
            assert_eq!(value.units(), units);
            assert_eq!(value.to_string(), text);
        }
        assert_eq!(SignedAmount::parse("-0").unwrap(), SignedAmount::ZERO);
        for bad in ["", "-", "--1", "+1", "1e3", "-1.123456789", "- 1"] {
            assert!(SignedAmount::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            SignedAmount::from_units(150_000_000).to_string_with_sign(),
            "+1.5"
        );
    }

    #[test]
    fn json_round_trip_is_a_number() {
        let value: SignedAmount = serde_json::from_str("-1.2").unwrap();
        assert_eq!(serde_json::to_string(&value).unwrap(), "-1.2");
        let json = serde_json::json!({ "delta": value });
        assert_eq!(json.to_string(), r#"{"delta":-1.2}"#);
        assert!(serde_json::from_str::<SignedAmount>("\"1\"").is_err());
    }

    #[test]
    fn arithmetic() {
        let a = Amount::from_units(5);
        let b = Amount::from_units(7);
        assert_eq!(SignedAmount::difference(a, b).units(), -2);
        assert_eq!(
            SignedAmount::debit(a)
                .saturating_add(SignedAmount::credit(b))
                .units(),
            2
        );
    }
}
