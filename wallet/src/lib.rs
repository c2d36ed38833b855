//! The Cinder wallet: BIP-39/BIP-32 keys (PROTOCOL.md §3) kept in an
//! encrypted keystore, address discovery, coin selection and signing.
//!
//! The wallet knows nothing of HTTP: every question about the chain goes
//! through the [`node::NodeClient`] trait, which [`node::HttpNode`]
//! implements for a real node and tests implement in memory.

pub mod cli;
pub mod coin_selection;
pub mod commands;
pub mod discovery;
pub mod funds;
pub mod history;
pub mod keys;
pub mod keystore;
pub mod node;
pub mod prompt;
pub mod send;
pub mod signed_amount;

#[cfg(test)]
mod fake_node;

use cinder::types::{Address, AddressInputError, Amount, AmountError};

pub use signed_amount::SignedAmount;

/// Unused addresses in a row after which discovery stops (BIP-44's gap limit).
pub const GAP_LIMIT: u32 = 20;

/// Everything that makes a command fail; each is one line for the user.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error(transparent)]
    Keystore(#[from] keystore::KeystoreError),
    #[error(transparent)]
    Node(#[from] node::NodeError),
    #[error(transparent)]
    Keys(#[from] keys::KeysError),
    #[error(transparent)]
    Send(#[from] send::SendError),
    #[error(transparent)]
    Address(#[from] AddressInputError),
    #[error(transparent)]
    Amount(#[from] AmountError),
    #[error(transparent)]
    Prompt(#[from] prompt::PromptError),
    #[error("node runs chain {0:?}, which this wallet does not know")]
    UnknownChain(String),
    /// Not `#[from]`, which would also make the error its `source()` and
    /// print it twice in a chain (see the `From` impl below).
    #[error("cannot write output: {0}")]
    Output(std::io::Error),
    #[error("cannot show the new mnemonic: {error}; {}", if *removed {
        "the new wallet file was removed"
    } else {
        "the wallet file now holds a mnemonic nobody saw: run `wallet new --force` again"
    })]
    MnemonicNotShown {
        error: std::io::Error,
        removed: bool,
    },
    /// A command line clap refused, as one line.
    #[error("{0}")]
    Usage(String),
}

/// Writing the output failed. The OS error is in the message and is not a
/// `source()`, so a printer of the whole chain (anyhow's `{:#}`) shows it once.
impl From<std::io::Error> for WalletError {
    fn from(error: std::io::Error) -> WalletError {
        WalletError::Output(error)
    }
}

/// Parses an address as a user typed it: all lowercase, or mixed case with
/// a correct checksum (PROTOCOL.md §1); a wrong checksum is refused.
pub fn parse_address_input(text: &str) -> Result<Address, AddressInputError> {
    Address::parse_checked(text)
}

/// Parses an amount as a user typed it (at most 8 decimals, no sign).
pub fn parse_amount_input(text: &str) -> Result<Amount, AmountError> {
    Amount::parse(text.trim())
}

/// Runs the command line of this process.
pub fn run() -> Result<(), WalletError> {
    let cli = cli::Cli::parse_args()?;
    commands::execute(cli)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_input_accepts_lowercase_and_checksum_refuses_typo() {
        let lower = "0x3a2d4145a4f098523b3e8127f1da87cfc55b8e79";
        let checksummed = "0x3A2d4145a4F098523b3e8127f1da87cfC55B8E79";
        let expected: Address = lower.parse().unwrap();
        assert_eq!(parse_address_input(lower).unwrap(), expected);
        assert_eq!(parse_address_input(checksummed).unwrap(), expected);
        assert_eq!(expected.to_checksummed(), checksummed);
        let typo = "0x3a2D4145a4F098523b3e8127f1da87cfC55B8E79";
        assert!(matches!(
            parse_address_input(typo),
            Err(AddressInputError::BadChecksum(_))
        ));
        let all_upper = "0x3A2D4145A4F098523B3E8127F1DA87CFC55B8E79";
        assert!(matches!(
            parse_address_input(all_upper),
            Err(AddressInputError::BadChecksum(_))
        ));
        for bad in [
            "",
            "0x",
            "3a2d4145a4f098523b3e8127f1da87cfc55b8e79",
            "0x3a2d",
            "0xzz2d4145a4f098523b3e8127f1da87cfc55b8e79",
        ] {
            assert!(
                matches!(
                    parse_address_input(bad),
                    Err(AddressInputError::Malformed(_))
                ),
                "{bad:?}"
            );
        }
        let err = WalletError::from(parse_address_input(typo).unwrap_err()).to_string();
        assert!(err.contains("checksum"), "{err}");
    }

    /// `e` with its causes, as anyhow's `{:#}` (and so the full node) prints
    /// a chain: `outer: cause: cause`.
    fn chain(e: WalletError) -> String {
        format!("{:#}", anyhow::Error::from(e))
    }

    #[test]
    fn each_os_error_appears_once_when_the_chain_is_printed() {
        let os = || std::io::Error::from_raw_os_error(98);
        let dir = tempfile::tempdir().unwrap();
        // A real one: a directory where the keystore file should be.
        let read = keystore::Keystore::open(dir.path(), "pw").unwrap_err();
        assert!(
            matches!(read, keystore::KeystoreError::Read { .. }),
            "{read}"
        );
        let errors = [
            WalletError::from(read),
            keystore::KeystoreError::Write {
                path: dir.path().into(),
                error: os(),
            }
            .into(),
            prompt::PromptError::PasswordFile {
                path: dir.path().into(),
                error: os(),
            }
            .into(),
            prompt::PromptError::Read {
                what: "stdin",
                error: os(),
            }
            .into(),
            WalletError::from(os()),
            WalletError::MnemonicNotShown {
                error: os(),
                removed: true,
            },
        ];
        for e in errors {
            let plain = e.to_string();
            let text = chain(e);
            assert_eq!(text.matches("(os error").count(), 1, "{text}");
            // And the one-line message printed by `main` still names it.
            assert_eq!(text, plain);
        }
    }

    #[test]
    fn amount_input_refuses_too_many_decimals() {
        assert_eq!(
            parse_amount_input("1.2").unwrap(),
            Amount::from_units(120_000_000)
        );
        let err = parse_amount_input("1.123456789").unwrap_err();
        assert!(matches!(err, AmountError::TooManyDecimals(_)));
        assert!(
            WalletError::from(err)
                .to_string()
                .contains("more than 8 decimals")
        );
        assert!(parse_amount_input("-1").is_err());
        assert!(parse_amount_input("1e3").is_err());
    }
}
