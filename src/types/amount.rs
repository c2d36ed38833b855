//! `Amount`: a count of base units, parsed from and written to JSON as an
//! exact decimal number of coins (PROTOCOL.md §1). Never a float.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Base units in one coin.
pub const COIN: u64 = 100_000_000;
/// Fractional digits an amount may carry.
pub const DECIMALS: usize = 8;

/// An amount of money in base units; at most [`Amount::MAX_MONEY`] when it
/// comes from JSON.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(u64);

/// Why a text is not an amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount {0:?} is not a plain decimal number")]
    NotDecimal(String),
    #[error("amount {0:?} has more than 8 decimals")]
    TooManyDecimals(String),
    #[error("amount {0:?} is above the 630000 coins that can ever exist")]
    TooLarge(String),
}

impl Amount {
    pub const ZERO: Amount = Amount(0);
    /// 630 000 coins: no amount in a transaction or block may exceed it.
    pub const MAX_MONEY: Amount = Amount(630_000 * COIN);

    pub const fn from_units(units: u64) -> Amount {
        Amount(units)
    }

    pub const fn units(self) -> u64 {
        self.0
    }

    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }

    pub fn saturating_sub(self, other: Amount) -> Amount {
        Amount(self.0.saturating_sub(other.0))
    }

    /// Parses the exact text of a JSON number (or what a user typed):
    /// digits, an optional point and 1–8 fractional digits, at most
    /// `MAX_MONEY`. No sign, no exponent.
    pub fn parse(text: &str) -> Result<Amount, AmountError> {
        let bad = || AmountError::NotDecimal(text.to_string());
        let (whole, frac) = match text.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (text, None),
        };
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        if whole.len() > 1 && whole.starts_with('0') {
            return Err(bad());
        }
        let mut frac_units = 0u64;
        if let Some(f) = frac {
            if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            if f.len() > DECIMALS {
                return Err(AmountError::TooManyDecimals(text.to_string()));
            }
            for (i, b) in f.bytes().enumerate() {
                frac_units += u64::from(b - b'0') * 10u64.pow((DECIMALS - 1 - i) as u32);
            }
        }
        let too_large = || AmountError::TooLarge(text.to_string());
        let whole_units = whole
            .parse::<u64>()
            .map_err(|_| too_large())?
            .checked_mul(COIN)
            .ok_or_else(too_large)?;
        let units = whole_units.checked_add(frac_units).ok_or_else(too_large)?;
        if units > Self::MAX_MONEY.0 {
            return Err(too_large());
        }
        Ok(Amount(units))
    }
}

impl FromStr for Amount {
    type Err = AmountError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Amount::parse(s)
    }
}

impl fmt::Display for Amount {
    /// The shortest plain form: `1.5`, `2`, `0.00000001`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / COIN;
        let frac = self.0 % COIN;
        if frac == 0 {
            return write!(f, "{whole}");
        }
        let digits = format!("{frac:08}");
        write!(f, "{whole}.{}", digits.trim_end_matches('0'))
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Amount({self})")
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // With serde_json's `arbitrary_precision`, a Number made from text is
        // written as that exact text.
        serde_json::Number::from_string_unchecked(self.to_string()).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let number = serde_json::Number::deserialize(deserializer)?;
        Amount::parse(number.as_str()).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn shortest_form() {
        assert_eq!(Amount::from_units(150_000_000).to_string(), "1.5");
        assert_eq!(Amount::from_units(1).to_string(), "0.00000001");
        assert_eq!(Amount::from_units(200_000_000).to_string(), "2");
        assert_eq!(Amount::ZERO.to_string(), "0");
    }

    #[test]
    fn rejects_what_is_not_plain() {
        for bad in [
            "", ".", "1.", ".5", "01", "+1", "-1", "1e3", "1.2.3", " 1", "0x10",
        ] {
            assert!(Amount::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Amount::parse("99999999999999999999999").is_err());
    }

    proptest! {
        #[test]
        fn text_round_trip(units in 0..=Amount::MAX_MONEY.units()) {
            let a = Amount::from_units(units);
            prop_assert_eq!(Amount::parse(&a.to_string()), Ok(a));
            let json = serde_json::to_string(&a).unwrap();
            prop_assert_eq!(serde_json::from_str::<Amount>(&json).unwrap(), a);
        }

        #[test]
        fn eight_decimal_text_parses_to_same(units in 0..=Amount::MAX_MONEY.units()) {
            let text = format!("{}.{:08}", units / COIN, units % COIN);
            prop_assert_eq!(Amount::parse(&text), Ok(Amount::from_units(units)));
        }
    }
}
