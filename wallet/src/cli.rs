//! The command line (clap derive). Global flags are accepted before or
//! after the subcommand. Amounts and addresses stay text here and are
//! parsed by the commands, so a bad one is a one-line error (exit 1).

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::{ArgGroup, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::WalletError;
use crate::keys::WordCount;

#[derive(Debug, Parser)]
#[command(
    name = "wallet",
    version,
    about = "Cinder wallet: keys, balance, history, payments",
    // Our own `help` command: clap's refuses `wallet help --help`.
    disable_help_subcommand = true
)]
pub struct Cli {
    /// The keystore file.
    #[arg(
        short = 'w',
        long = "wallet",
        global = true,
        default_value = ".wallet/wallet.json"
    )]
    pub wallet: PathBuf,
    /// The node to ask (http://ip:port); default: the first that answers of up to 3 random nodes from the seed, then http://127.0.0.1:50000.
    #[arg(long, global = true)]
    pub node: Option<String>,
    /// The DNS seed asked for its nodes when --node is not given.
    #[arg(long, global = true, default_value = "127.0.0.1:42020")]
    pub dns: String,
    /// A file whose first line is the keystore password (else CINDER_WALLET_PASSWORD, else a prompt).
    #[arg(long, global = true)]
    pub password_file: Option<PathBuf>,
    /// Print one JSON object instead of text. A failure is then
    /// {"error": "<code>", "message": "<sentence>"} on stdout, exit status 1.
    #[arg(long, global = true)]
    pub json: bool,
    /// Log level or filter, on stderr (error, warn, info, debug, trace, off);
    /// debug tells which node answered.
    #[arg(long, global = true, value_name = "LEVEL", default_value = crate::logging::DEFAULT_LOG)]
    pub log: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a wallet with a new mnemonic, shown once.
    New {
        /// Mnemonic length.
        #[arg(long, value_enum, default_value = "12")]
        words: Words,
        /// Also protect the seed with a BIP-39 passphrase (prompted).
        #[arg(long)]
        passphrase: bool,
        /// Replace an existing wallet file.
        #[arg(long)]
        force: bool,
    },
    /// Restore a wallet from its mnemonic: stdin line 1 the mnemonic, line 2 the BIP-39 passphrase.
    Restore {
        /// Replace an existing wallet file.
        #[arg(long)]
        force: bool,
    },
    /// Show the first unused receive address.
    Address {
        /// Hand out the next receive address instead.
        #[arg(long)]
        new: bool,
    },
    /// Show confirmed, immature and unconfirmed balances.
    Balance {
        /// Per address too.
        #[arg(short = 'v', long)]
        verbose: bool,
    },
    /// List the wallet's transactions, newest first.
    History,
    /// Pay an address.
    #[command(group(ArgGroup::new("how_much").required(true).args(["amount", "all"])))]
    Send {
        /// The payee (lowercase or with a correct checksum).
        #[arg(long, allow_hyphen_values = true)]
        to: String,
        /// Coins to send, at most 8 decimals.
        #[arg(long, allow_hyphen_values = true)]
        amount: Option<String>,
        /// Send every spendable coin, less the fee, with no change (merges
        /// many small coins); at most the 256 largest per transaction.
        #[arg(long)]
        all: bool,
        /// The fee in coins (default: 10 units per byte of the transaction).
        #[arg(long, allow_hyphen_values = true)]
        fee: Option<String>,
        /// Refuse to pay a fee (given or computed) above this many coins.
        #[arg(long, allow_hyphen_values = true, default_value = DEFAULT_MAX_FEE)]
        max_fee: String,
        /// Send the change to the next unused change address instead of the first input's.
        #[arg(long)]
        fresh_change: bool,
        /// Print the signed transaction and post nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print this message or the help of the given command.
    Help {
        /// The command to explain.
        #[arg(value_name = "COMMAND")]
        command: Vec<String>,
    },
}

/// `send --max-fee` when not given: far above any fee the wallet computes
/// (10 units per byte of a 256-input transaction is about 0.004), far below
/// a typo such as `--fee 5`.
pub const DEFAULT_MAX_FEE: &str = "0.1";

/// Mnemonic lengths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Words {
    #[value(name = "12")]
    Twelve,
    #[value(name = "24")]
    TwentyFour,
}

impl From<Words> for WordCount {
    fn from(w: Words) -> WordCount {
        match w {
            Words::Twelve => WordCount::Twelve,
            Words::TwentyFour => WordCount::TwentyFour,
        }
    }
}

impl Cli {
    /// Parses the process's arguments. `--help` and `--version` print
    /// clap's text and exit 0; a usage error is one line, returned to fail
    /// with exit status 1.
    pub fn parse_args() -> Result<Cli, WalletError> {
        Cli::try_parse().map_err(usage_error)
    }
}

/// `wallet help [COMMAND]…`: on `out`, exactly what `wallet [COMMAND]…
/// --help` prints (clap parses that command line and renders its help).
pub fn write_help(path: &[String], out: &mut dyn Write) -> Result<(), WalletError> {
    use clap::error::ErrorKind;
    let args = std::iter::once("wallet")
        .chain(path.iter().map(String::as_str))
        .chain(std::iter::once("--help"));
    match Cli::command().try_get_matches_from(args) {
        Err(e) if e.kind() == ErrorKind::DisplayHelp => {
            write!(out, "{}", e.render())?;
            out.flush()?;
            Ok(())
        }
        Err(e) => Err(WalletError::Usage(usage_line(&e.render().to_string()))),
        // `--help` always ends the parse; this is only in case it did not.
        Ok(_) => Err(WalletError::Usage(
            "no help for that command line (see wallet --help)".to_string(),
        )),
    }
}

/// Whether the command line `args` (program name first) asks for
/// `--json`, also when clap refuses it: then a usage error is reported as
/// JSON too.
pub fn json_requested<I, T>(args: I) -> bool
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    match Cli::try_parse_from(&args) {
        Ok(cli) => cli.json,
        Err(_) => args
            .iter()
            .skip(1)
            .take_while(|a| *a != "--")
            .any(|a| a == "--json"),
    }
}

fn usage_error(e: clap::Error) -> WalletError {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => e.exit(),
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => WalletError::Usage(
            "no command given: new, restore, address, balance, history or send (see wallet --help)"
                .to_string(),
        ),
        _ => WalletError::Usage(usage_line(&e.render().to_string())),
    }
}

/// clap's message as one line: the text before its usage section, without
/// the leading `error: `, plus where to read more.
fn usage_line(rendered: &str) -> String {
    let mut line = String::new();
    for part in rendered
        .lines()
        .map(str::trim)
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty() && !l.starts_with("Usage:"))
    {
        let part = part.strip_prefix("error:").map_or(part, str::trim_start);
        if !line.is_empty() {
            line.push_str(if part.starts_with("tip:") { "; " } else { " " });
        }
        line.push_str(part);
    }
    if line.is_empty() {
        line.push_str("invalid command line");
    }
    line.push_str(" (see wallet --help)");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("wallet").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn global_flags_before_or_after_the_subcommand() {
        let before = parse(&[
            "-w",
            "/tmp/w.json",
            "--node",
            "http://127.0.0.1:5",
            "--json",
            "--password-file",
            "/tmp/pw",
            "--dns",
            "1.2.3.4:9",
            "balance",
            "-v",
        ]);
        let after = parse(&[
            "balance",
            "-v",
            "--wallet",
            "/tmp/w.json",
            "--node",
            "http://127.0.0.1:5",
            "--json",
            "--password-file",
            "/tmp/pw",
            "--dns",
            "1.2.3.4:9",
        ]);
        for cli in [before, after] {
            assert_eq!(cli.wallet, PathBuf::from("/tmp/w.json"));
            assert_eq!(cli.node.as_deref(), Some("http://127.0.0.1:5"));
            assert_eq!(cli.dns, "1.2.3.4:9");
            assert_eq!(cli.password_file, Some(PathBuf::from("/tmp/pw")));
            assert!(cli.json);
            assert!(matches!(cli.command, Command::Balance { verbose: true }));
        }
    }

    #[test]
    fn defaults() {
        let cli = parse(&["address"]);
        assert_eq!(cli.wallet, PathBuf::from(".wallet/wallet.json"));
        assert_eq!(cli.node, None);
        assert_eq!(cli.dns, "127.0.0.1:42020");
        assert_eq!(cli.log, "warn");
        assert!(!cli.json);
        assert!(matches!(cli.command, Command::Address { new: false }));
        let cli = parse(&["new"]);
        assert!(matches!(
            cli.command,
            Command::New {
                words: Words::Twelve,
                passphrase: false,
                force: false
            }
        ));
    }

    #[test]
    fn subcommand_arguments() {
        let cli = parse(&["--json", "new", "--words", "24", "--force"]);
        assert!(matches!(
            cli.command,
            Command::New {
                words: Words::TwentyFour,
                force: true,
                ..
            }
        ));
        assert!(Cli::try_parse_from(["wallet", "new", "--words", "13"]).is_err());
        let cli = parse(&[
            "send",
            "--to",
            "0xAB",
            "--amount",
            "1.2",
            "--fee",
            "0.001",
            "--dry-run",
            "-w",
            "x",
        ]);
        match cli.command {
            Command::Send {
                to,
                amount,
                all,
                fee,
                max_fee,
                fresh_change,
                dry_run,
            } => {
                assert_eq!(
                    (to.as_str(), amount.as_deref(), fee.as_deref()),
                    ("0xAB", Some("1.2"), Some("0.001"))
                );
                assert_eq!(max_fee, DEFAULT_MAX_FEE);
                assert!(dry_run && !fresh_change && !all);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(cli.wallet, PathBuf::from("x"));
        assert!(Cli::try_parse_from(["wallet", "send", "--amount", "1"]).is_err());
        match parse(&["send", "--to", "0xab", "--all"]).command {
            Command::Send { amount, all, .. } => assert!(all && amount.is_none()),
            other => panic!("{other:?}"),
        }
        // Exactly one of --amount and --all.
        for args in [
            &["send", "--to", "0xab", "--all", "--amount", "1"][..],
            &["send", "--to", "0xab"],
        ] {
            let e = Cli::try_parse_from(std::iter::once("wallet").chain(args.iter().copied()))
                .unwrap_err();
            let line = usage_line(&e.render().to_string());
            assert!(
                line.contains("--amount") && line.contains("--all"),
                "{line}"
            );
        }
        assert!(matches!(
            parse(&["restore", "--force"]).command,
            Command::Restore { force: true }
        ));
        assert!(matches!(
            parse(&["history", "--json"]).command,
            Command::History
        ));
        assert!(matches!(
            parse(&["address", "--new"]).command,
            Command::Address { new: true }
        ));
    }

    #[test]
    fn negative_amounts_reach_the_wallets_own_parser() {
        let cli = parse(&[
            "send",
            "--to",
            "0xab",
            "--amount",
            "-1",
            "--fee",
            "-1",
            "--max-fee",
            "-1",
        ]);
        match cli.command {
            Command::Send {
                amount,
                fee,
                max_fee,
                ..
            } => {
                assert_eq!(amount.as_deref(), Some("-1"));
                assert_eq!(fee.as_deref(), Some("-1"));
                assert_eq!(max_fee, "-1");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn json_is_known_even_when_the_command_line_is_refused() {
        assert!(json_requested(["wallet", "--json", "balance"]));
        assert!(json_requested(["wallet", "balance", "--json"]));
        assert!(!json_requested(["wallet", "balance"]));
        // Refused by clap: the flag is looked for in the words.
        assert!(json_requested(["wallet", "--json", "balance", "--bogus"]));
        assert!(json_requested(["wallet", "--json"]));
        assert!(!json_requested(["wallet", "balance", "--bogus"]));
        // A value that happens to read `--json` is not the flag.
        assert!(!json_requested([
            "wallet", "send", "--to", "--json", "--amount", "1"
        ]));
    }

    #[test]
    fn help_names_a_command_or_shows_them_all() {
        let help = |path: &[&str]| {
            let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
            let mut out = Vec::new();
            write_help(&path, &mut out).map(|()| String::from_utf8(out).unwrap())
        };
        let all = help(&[]).unwrap();
        assert!(all.contains("Usage: wallet [OPTIONS] <COMMAND>"), "{all}");
        for command in [
            "new", "restore", "address", "balance", "history", "send", "help",
        ] {
            assert!(all.contains(&format!("  {command} ")), "{command}: {all}");
        }
        let balance = help(&["balance"]).unwrap();
        assert!(balance.contains("Usage: wallet balance"), "{balance}");
        // The global flags are shown with each command.
        assert!(
            balance.contains("--dns") && balance.contains("--log"),
            "{balance}"
        );
        let itself = help(&["help"]).unwrap();
        assert!(itself.contains("Usage: wallet help"), "{itself}");
        let e = help(&["nothing"]).unwrap_err();
        assert_eq!(e.code(), "usage");
        assert!(e.to_string().contains("'nothing'"), "{e}");
        assert!(!e.to_string().contains('\n'), "{e}");
        // `help` takes --help like any command.
        assert!(matches!(
            Cli::try_parse_from(["wallet", "help", "--help"])
                .unwrap_err()
                .kind(),
            clap::error::ErrorKind::DisplayHelp
        ));
        assert!(matches!(
            parse(&["help", "send"]).command,
            Command::Help { command } if command == ["send"]
        ));
    }

    #[test]
    fn usage_errors_are_one_line() {
        let e = Cli::try_parse_from(["wallet", "balance", "--bogus"]).unwrap_err();
        let line = usage_line(&e.render().to_string());
        assert!(!line.contains('\n'), "{line}");
        assert!(
            line.contains("--bogus") && line.ends_with("(see wallet --help)"),
            "{line}"
        );
        assert!(!line.starts_with("error"), "{line}");
        let e = Cli::try_parse_from(["wallet", "send", "--to", "0xab"]).unwrap_err();
        let line = usage_line(&e.render().to_string());
        assert!(line.contains("--amount <AMOUNT>"), "{line}");
        assert!(!line.contains('\n') && !line.contains("Usage"), "{line}");
        let e = Cli::try_parse_from(["wallet", "new", "--words", "13"]).unwrap_err();
        let line = usage_line(&e.render().to_string());
        assert!(line.contains("'13'") && line.contains("12, 24"), "{line}");
    }
}
