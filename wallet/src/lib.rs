//! The Cinder wallet: BIP-39/BIP-32 keys (PROTOCOL.md §3) kept in an
//! encrypted keystore, address discovery, coin selection and signing.
//!
//! The wallet knows nothing of HTTP: every question about the chain goes
//! through the [`node::NodeClient`] trait, which [`node::HttpNode`]
//! implements for a real node and tests implement in memory.

pub mod choose;
pub mod cli;
pub mod coin_selection;
pub mod commands;
pub mod discovery;
pub mod funds;
pub mod history;
pub mod keys;
pub mod keystore;
pub mod logging;
pub mod node;
pub mod prompt;
pub mod send;

#[cfg(test)]
mod fake_node;

use std::io::Write;

use cinder::types::{Address, AddressInputError, Amount, AmountError};
use serde::Serialize;

pub use cinder::types::SignedAmount;

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

impl WalletError {
    /// A short, stable code for scripts: the `error` of `--json`'s
    /// `{"error": "<code>", "message": "<sentence>"}`.
    pub fn code(&self) -> &'static str {
        use keys::KeysError;
        use keystore::KeystoreError;
        use node::NodeError;
        use prompt::PromptError;
        use send::SendError;
        match self {
            WalletError::Keystore(e) => match e {
                KeystoreError::Missing(_) => "no_wallet",
                KeystoreError::Exists(_) => "wallet_exists",
                KeystoreError::Read { .. } => "wallet_unreadable",
                KeystoreError::Write { .. } => "wallet_unwritable",
                KeystoreError::Corrupt { .. } => "wallet_corrupt",
                KeystoreError::Decrypt(_) => "wrong_password",
                KeystoreError::Kdf(_) => "bad_kdf_parameters",
                KeystoreError::Encrypt => "encryption_failed",
            },
            WalletError::Node(e) => match e {
                NodeError::Unreachable { .. } | NodeError::NoneAnswered(_) => "node_unreachable",
                NodeError::RejectedTransaction { .. } => "transaction_rejected",
                NodeError::Refused { .. } => "node_refused",
                NodeError::BadAnswer { .. } => "node_bad_answer",
                NodeError::PostUncertain { .. } => "post_uncertain",
            },
            WalletError::Keys(e) => match e {
                KeysError::Mnemonic(_) => "bad_mnemonic",
                KeysError::Derivation(_) => "key_derivation_failed",
            },
            WalletError::Send(e) => match e {
                SendError::ZeroAddress => "zero_address",
                SendError::ZeroAmount => "zero_amount",
                SendError::Insufficient { .. } => "insufficient_funds",
                SendError::NothingToSweep { .. } => "nothing_to_sweep",
                SendError::FeeAboveMax { .. } => "fee_above_max",
                SendError::Selection(e) => match e {
                    coin_selection::SelectionError::Insufficient { .. } => "insufficient_funds",
                    coin_selection::SelectionError::TooManyInputs => "too_many_inputs",
                    coin_selection::SelectionError::FeeBelowMinimum { .. } => "fee_below_minimum",
                    coin_selection::SelectionError::NothingToSweep { .. } => "nothing_to_sweep",
                },
                SendError::KeyMismatch { .. } => "key_mismatch",
            },
            WalletError::Address(_) => "bad_address",
            WalletError::Amount(_) => "bad_amount",
            WalletError::Prompt(e) => match e {
                PromptError::NoPassword(_) => "no_password",
                PromptError::NoTerminal(_) => "no_terminal",
                PromptError::PasswordFile { .. } => "password_file_unreadable",
                PromptError::EmptyPassword => "empty_password",
                PromptError::Mismatch => "passwords_differ",
                PromptError::Read { .. } => "input_unreadable",
                PromptError::NoMnemonic => "no_mnemonic",
            },
            WalletError::UnknownChain(_) => "unknown_chain",
            WalletError::Output(_) => "output_failed",
            WalletError::MnemonicNotShown { .. } => "mnemonic_not_shown",
            WalletError::Usage(_) => "usage",
        }
    }
}

/// `--json`'s report of a failure.
#[derive(Serialize)]
struct ErrorReport<'a> {
    error: &'static str,
    message: &'a str,
}

/// Shows a failed command: `error: <message>` on `err`; with `--json`, one
/// line `{"error": "<code>", "message": "<message>"}` on `out` instead (on
/// `err` as text when `out` cannot be written, so the failure is never lost).
pub fn write_error(error: &WalletError, json: bool, out: &mut dyn Write, err: &mut dyn Write) {
    let message = error.to_string();
    if json {
        let report = ErrorReport {
            error: error.code(),
            message: &message,
        };
        if serde_json::to_writer(&mut *out, &report).is_ok()
            && writeln!(out).is_ok()
            && out.flush().is_ok()
        {
            return;
        }
    }
    // Nowhere left to report a failure to write the failure.
    let _ = writeln!(err, "error: {message}");
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
    logging::init(&cli.log).map_err(WalletError::Usage)?;
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
    fn errors_are_one_json_object_with_json_and_a_line_without() {
        let error = WalletError::from(parse_amount_input("1.123456789").unwrap_err());
        let mut out = Vec::new();
        let mut err = Vec::new();
        write_error(&error, true, &mut out, &mut err);
        assert!(err.is_empty());
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "error": "bad_amount",
                "message": "amount \"1.123456789\" has more than 8 decimals"
            })
        );

        let mut out = Vec::new();
        let mut err = Vec::new();
        write_error(&error, false, &mut out, &mut err);
        assert!(out.is_empty());
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "error: amount \"1.123456789\" has more than 8 decimals\n"
        );

        // Stdout closed: the failure still reaches stderr.
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
        }
        let mut err = Vec::new();
        write_error(&error, true, &mut Closed, &mut err);
        assert!(String::from_utf8(err).unwrap().starts_with("error: amount"));
    }

    #[test]
    fn error_codes_are_short_and_distinct_where_it_matters() {
        let codes = [
            WalletError::Usage("x".into()).code(),
            WalletError::from(keystore::KeystoreError::Missing("w".into())).code(),
            WalletError::from(keystore::KeystoreError::Decrypt("w".into())).code(),
            WalletError::from(node::NodeError::Unreachable {
                url: "u".into(),
                reason: "r".into(),
            })
            .code(),
            WalletError::from(send::SendError::FeeAboveMax {
                fee: Amount::from_units(2),
                max_fee: Amount::from_units(1),
            })
            .code(),
            WalletError::from(parse_address_input("0x").unwrap_err()).code(),
        ];
        assert_eq!(
            codes,
            [
                "usage",
                "no_wallet",
                "wrong_password",
                "node_unreachable",
                "fee_above_max",
                "bad_address"
            ]
        );
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
