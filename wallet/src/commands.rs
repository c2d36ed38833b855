//! The commands: each opens the keystore, asks the node through
//! [`NodeClient`] and writes text or one JSON object. Addresses are shown
//! checksummed in text and lowercase in JSON (PROTOCOL.md §1).

use std::io::Write;
use std::path::PathBuf;

use cinder::consensus::transaction::MAX_INPUTS;
use cinder::crypto::KeyChain;
use cinder::types::{Address, Amount, Hash, Transaction};
use serde::Serialize;

use crate::cli::{Cli, Command};
use crate::coin_selection::{DEFAULT_FEE_RATE, FeePolicy, LargestFirst};
use crate::discovery::{Discovery, discover};
use crate::funds::{AddressBalance, chain_params, compute_balance, gather_funds};
use crate::history::wallet_history;
use crate::keys::{KeyPath, KeySource, Secrets, WalletKeys, WordCount};
use crate::keystore::{KdfParams, Keystore, check_can_create};
use crate::node::{LazyNode, NodeClient};
use crate::prompt::{PasswordSource, RestoreInput, read_new_passphrase, read_restore_input};
use crate::send::{ChangeTo, SendAmount, SendRequest, check_request, prepare_send};
use crate::{GAP_LIMIT, SignedAmount, WalletError, parse_address_input, parse_amount_input};

/// What a command runs with; tests build one around a fake node and buffers.
pub struct Session<'a> {
    pub wallet: PathBuf,
    pub json: bool,
    pub passwords: PasswordSource,
    /// KDF cost for keystores this session writes.
    pub kdf: KdfParams,
    /// Warn when an opened keystore's KDF cost is below the default (off
    /// when `CINDER_WALLET_KDF_*` asked for cheap parameters on purpose).
    pub warn_weak_kdf: bool,
    pub node: &'a dyn NodeClient,
    pub out: &'a mut dyn Write,
    /// Warnings and notes (never secrets).
    pub err: &'a mut dyn Write,
}

/// Runs a parsed command line against the real node, stdout and stderr.
pub fn execute(cli: Cli) -> Result<(), WalletError> {
    let node = LazyNode::new(cli.node.clone(), cli.dns.clone());
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr();
    let mut session = Session {
        wallet: cli.wallet.clone(),
        json: cli.json,
        passwords: PasswordSource::from_env(cli.password_file.clone()),
        kdf: KdfParams::default(),
        warn_weak_kdf: !KdfParams::env_overridden(),
        node: &node,
        out: &mut stdout,
        err: &mut stderr,
    };
    match cli.command {
        Command::New {
            words,
            passphrase,
            force,
        } => {
            session.kdf = KdfParams::from_env()?;
            check_can_create(&session.wallet, force)?;
            let passphrase = if passphrase {
                read_new_passphrase()?
            } else {
                zeroize::Zeroizing::new(String::new())
            };
            new_wallet(&mut session, words.into(), passphrase, force)
        }
        Command::Restore { force } => {
            session.kdf = KdfParams::from_env()?;
            check_can_create(&session.wallet, force)?;
            let input = read_restore_input()?;
            restore_wallet(&mut session, input, force)
        }
        Command::Address { new } => address(&mut session, new),
        Command::Balance { verbose } => balance(&mut session, verbose),
        Command::History => history(&mut session),
        Command::Send {
            to,
            amount,
            all,
            fee,
            max_fee,
            fresh_change,
            dry_run,
        } => send(
            &mut session,
            &SendArgs {
                to: &to,
                amount: if all { None } else { amount.as_deref() },
                fee: fee.as_deref(),
                max_fee: &max_fee,
                fresh_change,
                dry_run,
            },
        ),
        Command::Help { command } => crate::cli::write_help(&command, session.out),
    }
}

/// One JSON object on one line, fields in their declared order, written
/// straight to `out` (no copy of a secret in an intermediate string).
fn write_json(out: &mut dyn Write, value: &impl Serialize) -> Result<(), WalletError> {
    serde_json::to_writer(&mut *out, value).map_err(std::io::Error::from)?;
    writeln!(out)?;
    Ok(())
}

/// Printed when a keystore is written with a KDF cost below the default.
pub const WEAK_KDF_WRITE_WARNING: &str =
    "warning: weak key-stretching parameters from CINDER_WALLET_KDF_*: for tests only";

#[derive(Serialize)]
struct NewReport<'a> {
    mnemonic: &'a str,
    address: Address,
}

/// `send --dry-run --json`: the signed transaction and what `send --json` reports.
#[derive(Serialize)]
struct DryRunReport<'a> {
    transaction: &'a Transaction,
    hash: Hash,
    fee: Amount,
    change: Amount,
    change_address: Option<Address>,
    #[serde(skip_serializing_if = "Option::is_none")]
    amount: Option<Amount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    coins_left: Option<usize>,
}

#[derive(Serialize)]
struct RestoreReport {
    address: Address,
    path: String,
    discovered: bool,
    used_addresses: usize,
}

#[derive(Serialize)]
struct AddressReport {
    address: Address,
    path: String,
}

#[derive(Serialize)]
struct BalanceReport<'a> {
    confirmed: Amount,
    immature: Amount,
    unconfirmed: SignedAmount,
    #[serde(skip_serializing_if = "Option::is_none")]
    addresses: Option<&'a [AddressBalance]>,
}

/// `wallet new`: a fresh mnemonic, shown once, and its keystore.
pub fn new_wallet(
    session: &mut Session,
    words: WordCount,
    passphrase: zeroize::Zeroizing<String>,
    force: bool,
) -> Result<(), WalletError> {
    check_can_create(&session.wallet, force)?;
    let has_passphrase = !passphrase.is_empty();
    let password = session.passwords.new_password()?;
    let secrets = Secrets::generate(words, passphrase);
    let existed = std::fs::symlink_metadata(&session.wallet).is_ok();
    let keystore = create_keystore(session, secrets, &password, force)?;
    let mnemonic = keystore.secrets().mnemonic()?;
    let keys = keystore.secrets().keys()?;
    let address = keys.address(KeyPath::receive(0))?;
    let shown = show_mnemonic(session, &mnemonic, address, has_passphrase);
    if let Err(e) = shown {
        // A wallet whose words nobody saw is worse than none: remove it,
        // unless it replaced one (--force), which is gone either way.
        let removed = !existed && std::fs::remove_file(&session.wallet).is_ok();
        let error = match e {
            WalletError::Output(io) => io,
            other => return Err(other),
        };
        return Err(WalletError::MnemonicNotShown { error, removed });
    }
    Ok(())
}

/// [`Keystore::create`] with the session's KDF cost, warning when it is weak.
fn create_keystore(
    session: &mut Session,
    secrets: Secrets,
    password: &str,
    force: bool,
) -> Result<Keystore, WalletError> {
    let keystore = Keystore::create(&session.wallet, secrets, password, session.kdf, force)?;
    if session.kdf.is_weak() {
        // Best effort: the file is written, and `new` must still show its words.
        let _ = writeln!(session.err, "{WEAK_KDF_WRITE_WARNING}");
    }
    Ok(keystore)
}

/// The mnemonic of `new`, on stdout, flushed.
fn show_mnemonic(
    session: &mut Session,
    mnemonic: &str,
    address: Address,
    has_passphrase: bool,
) -> Result<(), WalletError> {
    if session.json {
        write_json(session.out, &NewReport { mnemonic, address })?;
        session.out.flush()?;
        return Ok(());
    }
    let out = &mut *session.out;
    writeln!(
        out,
        "WRITE THESE WORDS DOWN, in order, and keep them offline."
    )?;
    writeln!(
        out,
        "They are the only way to recover this wallet's coins; they are shown only this once."
    )?;
    writeln!(out)?;
    for (i, word) in mnemonic.split(' ').enumerate() {
        writeln!(out, "  {:>2}. {word}", i + 1)?;
    }
    writeln!(out)?;
    if has_passphrase {
        writeln!(
            out,
            "The words alone are not enough: restoring needs the BIP-39 passphrase too (without it they open a different, empty wallet)."
        )?;
    }
    writeln!(out, "wallet written to {}", session.wallet.display())?;
    writeln!(out, "first receive address: {}", address.to_checksummed())?;
    out.flush()?;
    Ok(())
}

/// `wallet restore`: the keystore of a known mnemonic; addresses are
/// discovered now when a node answers, else on the next command that reaches one.
pub fn restore_wallet(
    session: &mut Session,
    input: RestoreInput,
    force: bool,
) -> Result<(), WalletError> {
    check_can_create(&session.wallet, force)?;
    let secrets = Secrets::from_mnemonic(&input.mnemonic, input.passphrase)?;
    let password = session.passwords.new_password()?;
    let mut keystore = create_keystore(session, secrets, &password, force)?;
    let keys = keystore.secrets().keys()?;
    let (discovered, used) = match discover(&keys, session.node, GAP_LIMIT, 0) {
        Ok(discovery) => {
            let next = discovery.next_unused(KeyChain::Receive);
            if next != keystore.next_receive_index() {
                keystore.set_next_receive_index(next)?;
            }
            (true, discovery.used().count())
        }
        Err(e) => {
            writeln!(
                session.err,
                "note: {e}; the wallet is written, and its addresses will be discovered on the next command that reaches a node"
            )?;
            (false, 0)
        }
    };
    let index = keystore.next_receive_index();
    let address = keys.address(KeyPath::receive(index))?;
    if session.json {
        return write_json(
            session.out,
            &RestoreReport {
                address,
                path: KeyPath::receive(index).to_string(),
                discovered,
                used_addresses: used,
            },
        );
    }
    writeln!(
        session.out,
        "wallet restored to {}",
        session.wallet.display()
    )?;
    if discovered {
        writeln!(session.out, "found {used} used addresses")?;
    } else {
        writeln!(
            session.out,
            "no node answered: addresses will be discovered on the next command that reaches a node"
        )?;
    }
    writeln!(session.out, "receive address: {}", address.to_checksummed())?;
    Ok(())
}

fn open_wallet(session: &mut Session) -> Result<(Keystore, WalletKeys), WalletError> {
    let password = session.passwords.password()?;
    let keystore = Keystore::open(&session.wallet, &password)?;
    let kdf = keystore.kdf();
    if session.warn_weak_kdf && kdf.is_weak() {
        writeln!(
            session.err,
            "warning: wallet {} uses weak key-stretching parameters (argon2id {} KiB, {} iterations): \
             restore it again without CINDER_WALLET_KDF_* set",
            session.wallet.display(),
            kdf.memory_kib,
            kdf.iterations
        )?;
    }
    let keys = keystore.secrets().keys()?;
    Ok((keystore, keys))
}

/// Discovery through the session's node, scanning at least through the
/// keystore's receive index.
fn discover_wallet(
    session: &Session,
    keystore: &Keystore,
    keys: &WalletKeys,
) -> Result<Discovery, WalletError> {
    discover(
        keys,
        session.node,
        GAP_LIMIT,
        keystore.next_receive_index().saturating_add(1),
    )
}

/// `wallet address [--new]`.
pub fn address(session: &mut Session, new: bool) -> Result<(), WalletError> {
    let (mut keystore, keys) = open_wallet(session)?;
    let kept = keystore.next_receive_index();
    let discovery = match discover_wallet(session, &keystore, &keys) {
        Ok(d) => Some(d),
        Err(WalletError::Node(e)) if e.is_unreachable() => {
            writeln!(session.err, "note: {e}; showing the kept receive address")?;
            None
        }
        Err(e) => return Err(e),
    };
    // The newest address handed out (or past the last used one, if later).
    let newest = discovery
        .as_ref()
        .map_or(kept, |d| d.next_unused(KeyChain::Receive).max(kept));
    let index = if new {
        newest.saturating_add(1)
    } else {
        // The first address nobody paid, which may be older than the
        // newest handed out; offline, the kept one.
        discovery
            .as_ref()
            .map_or(kept, |d| d.first_unused(KeyChain::Receive))
    };
    // Keeps the newest handed out, so `--new` never hands one out twice.
    let keep = if new { index } else { newest };
    if keep != kept {
        keystore.set_next_receive_index(keep)?;
    }
    let path = KeyPath::receive(index);
    match &discovery {
        Some(d) if d.beyond_restore(path, GAP_LIMIT) => {
            let found = match d.restorable_last_used(KeyChain::Receive, GAP_LIMIT) {
                Some(u) => format!("index {u}"),
                None => "none".to_string(),
            };
            writeln!(
                session.err,
                "warning: address index {index} is past the gap limit of {GAP_LIMIT} unused addresses after the last used one a restore finds ({found}): \
                 a wallet restored from the mnemonic will not see payments to it until earlier addresses are used"
            )?;
        }
        None if index >= GAP_LIMIT => {
            writeln!(
                session.err,
                "warning: address index {index} may be past the gap limit of {GAP_LIMIT} unused addresses (this cannot be checked offline): \
                 a wallet restored from the mnemonic may not see payments to it until earlier addresses are used"
            )?;
        }
        _ => {}
    }
    let address = keys.address(path)?;
    if session.json {
        return write_json(
            session.out,
            &AddressReport {
                address,
                path: path.to_string(),
            },
        );
    }
    writeln!(session.out, "{}", address.to_checksummed())?;
    Ok(())
}

/// `wallet balance [-v]`.
pub fn balance(session: &mut Session, verbose: bool) -> Result<(), WalletError> {
    let (keystore, keys) = open_wallet(session)?;
    let discovery = discover_wallet(session, &keystore, &keys)?;
    let chain = session.node.chain_info()?;
    let params = chain_params(&chain)?;
    let funds = gather_funds(
        session.node,
        &discovery,
        chain.height,
        params.coinbase_maturity,
    )?;
    let balance = compute_balance(&discovery, &funds);
    if session.json {
        let report = BalanceReport {
            confirmed: balance.confirmed,
            immature: balance.immature,
            unconfirmed: balance.unconfirmed,
            addresses: verbose.then_some(balance.addresses.as_slice()),
        };
        return write_json(session.out, &report);
    }
    let out = &mut *session.out;
    writeln!(out, "confirmed:   {}", balance.confirmed)?;
    writeln!(out, "immature:    {}", balance.immature)?;
    writeln!(out, "unconfirmed: {}", balance.unconfirmed)?;
    if verbose {
        for a in &balance.addresses {
            writeln!(
                out,
                "{}  {:<18} confirmed {}  immature {}  unconfirmed {}",
                a.address.to_checksummed(),
                a.path.to_string(),
                a.confirmed,
                a.immature,
                a.unconfirmed
            )?;
        }
    }
    Ok(())
}

/// `wallet history`.
pub fn history(session: &mut Session) -> Result<(), WalletError> {
    let (keystore, keys) = open_wallet(session)?;
    let discovery = discover_wallet(session, &keystore, &keys)?;
    let chain = session.node.chain_info()?;
    let items = wallet_history(session.node, &discovery, chain.height)?;
    if session.json {
        return write_json(session.out, &items);
    }
    if items.is_empty() {
        writeln!(session.out, "no transactions")?;
    }
    for item in &items {
        let status = match item.block_height {
            Some(h) if item.confirmations == 1 => format!("1 confirmation (block {h})"),
            Some(h) => format!("{} confirmations (block {h})", item.confirmations),
            None => "mempool".to_string(),
        };
        writeln!(
            session.out,
            "{}  {:>16}  {status}",
            item.hash,
            item.delta.to_string_with_sign()
        )?;
    }
    Ok(())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The arguments of `wallet send`, as typed.
#[derive(Clone, Copy, Debug)]
pub struct SendArgs<'a> {
    pub to: &'a str,
    /// `None`: `--all`.
    pub amount: Option<&'a str>,
    pub fee: Option<&'a str>,
    pub max_fee: &'a str,
    pub fresh_change: bool,
    pub dry_run: bool,
}

/// `wallet send --to (--amount|--all) [--fee] [--max-fee] [--fresh-change] [--dry-run]`.
pub fn send(session: &mut Session, args: &SendArgs) -> Result<(), WalletError> {
    // Everything typed is checked before the password is asked.
    let to: Address = parse_address_input(args.to)?;
    let amount = match args.amount {
        Some(text) => SendAmount::Exactly(parse_amount_input(text)?),
        None => SendAmount::All,
    };
    let fee = match args.fee {
        Some(text) => FeePolicy::Fixed(parse_amount_input(text)?),
        None => FeePolicy::PerByte(DEFAULT_FEE_RATE),
    };
    let max_fee = parse_amount_input(args.max_fee)?;
    let mut request = SendRequest {
        to,
        amount,
        fee,
        max_fee,
        change: ChangeTo::FirstInput,
    };
    check_request(&request)?;

    let (keystore, keys) = open_wallet(session)?;
    let discovery = discover_wallet(session, &keystore, &keys)?;
    if args.fresh_change {
        let index = discovery.next_unused(KeyChain::Change);
        request.change = ChangeTo::Address(keys.address(KeyPath::change(index))?);
    }
    let built = prepare_send(
        session.node,
        &keys,
        &discovery,
        &request,
        &LargestFirst,
        now(),
    )?;
    if let Some(change_address) = built.change_address
        && let Some(path) = discovery.path_of(&change_address)
        && discovery.beyond_restore(path, GAP_LIMIT)
    {
        writeln!(
            session.err,
            "warning: the change goes to {} ({path}), past the gap limit of {GAP_LIMIT} unused addresses a restore scans: \
             a wallet restored from the mnemonic will not see it until earlier addresses are used",
            change_address.to_checksummed()
        )?;
    }
    if let Some(left) = built.coins_left
        && left > 0
    {
        writeln!(
            session.err,
            "note: a transaction spends at most {MAX_INPUTS} coins: this one sweeps the {MAX_INPUTS} largest, \
             {left} smaller ones are left (run `send --all` again for them)"
        )?;
    }
    if args.dry_run {
        if session.json {
            let report = built.report();
            return write_json(
                session.out,
                &DryRunReport {
                    transaction: &built.transaction,
                    hash: report.hash,
                    fee: report.fee,
                    change: report.change,
                    change_address: report.change_address,
                    amount: report.amount,
                    coins_left: report.coins_left,
                },
            );
        }
        let text =
            serde_json::to_string_pretty(&built.transaction).map_err(std::io::Error::other)?;
        writeln!(session.out, "{text}")?;
        return Ok(());
    }
    session.node.post_transaction(&built.transaction)?;
    if session.json {
        return write_json(session.out, &built.report());
    }
    writeln!(session.out, "{}", built.transaction.hash)?;
    let change = match built.change_address {
        Some(a) => format!(", change {} to {}", built.change, a.to_checksummed()),
        None => String::new(),
    };
    writeln!(
        session.err,
        "sent {} to {}, fee {}{change}",
        built.amount(),
        to.to_checksummed(),
        built.fee
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_node::{FakeNode, MNEMONIC, test_keys};
    use crate::prompt::parse_restore_input;
    use cinder::consensus::transaction::{check_context_free, check_signatures};
    use cinder::types::{Hash, Transaction};

    /// A test session with cheap key stretching and `password` in the
    /// environment source; change fields with struct update syntax.
    fn test_session<'a>(
        wallet: PathBuf,
        json: bool,
        password: &str,
        node: &'a dyn NodeClient,
        out: &'a mut dyn Write,
        err: &'a mut dyn Write,
    ) -> Session<'a> {
        Session {
            wallet,
            json,
            passwords: PasswordSource {
                file: None,
                env: Some(zeroize::Zeroizing::new(password.into())),
            },
            kdf: KdfParams::insecure_for_tests(),
            warn_weak_kdf: true,
            node,
            out,
            err,
        }
    }

    struct Harness {
        dir: tempfile::TempDir,
        node: FakeNode,
    }

    impl Harness {
        fn new(node: FakeNode) -> Harness {
            Harness {
                dir: tempfile::tempdir().unwrap(),
                node,
            }
        }

        fn path(&self) -> PathBuf {
            self.dir.path().join(".wallet").join("wallet.json")
        }

        /// Runs `f` with a session; returns (stdout, stderr, result).
        fn run(
            &self,
            json: bool,
            f: impl FnOnce(&mut Session) -> Result<(), WalletError>,
        ) -> (String, String, Result<(), WalletError>) {
            let mut out = Vec::new();
            let mut err = Vec::new();
            let result = {
                let mut session = test_session(
                    self.path(),
                    json,
                    "test password",
                    &self.node,
                    &mut out,
                    &mut err,
                );
                f(&mut session)
            };
            (
                String::from_utf8(out).unwrap(),
                String::from_utf8(err).unwrap(),
                result,
            )
        }

        fn restore(&self) {
            let (_, _, r) = self.run(false, |s| {
                restore_wallet(
                    s,
                    parse_restore_input(format!("{MNEMONIC}\n\n").as_bytes()).unwrap(),
                    false,
                )
            });
            r.unwrap();
        }
    }

    #[test]
    fn new_shows_mnemonic_once_and_refuses_overwrite() {
        let h = Harness::new(FakeNode::regtest(0));
        let (out, _, r) = h.run(true, |s| {
            new_wallet(s, WordCount::Twelve, Default::default(), false)
        });
        r.unwrap();
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        let mnemonic = value["mnemonic"].as_str().unwrap();
        assert_eq!(mnemonic.split(' ').count(), 12);
        let address = value["address"].as_str().unwrap();
        assert_eq!(address, address.to_lowercase());
        // The mnemonic restores the same first address.
        let keys = Secrets::from_mnemonic(mnemonic, Default::default())
            .unwrap()
            .keys()
            .unwrap();
        assert_eq!(
            keys.address(KeyPath::receive(0)).unwrap().to_string(),
            address
        );

        let (_, _, r) = h.run(false, |s| {
            new_wallet(s, WordCount::Twelve, Default::default(), false)
        });
        let err = r.unwrap_err().to_string();
        assert!(
            err.contains("already exists") && err.contains("--force"),
            "{err}"
        );
        let (out, _, r) = h.run(false, |s| {
            new_wallet(s, WordCount::TwentyFour, Default::default(), true)
        });
        r.unwrap();
        assert!(out.contains("WRITE THESE WORDS DOWN"));
        // Numbered from 1, as a restore error names a word.
        assert!(
            out.contains("\n   1. ") && out.contains("\n  24. "),
            "{out}"
        );
        assert!(!out.contains(" 0. ") && !out.contains(" 25. "), "{out}");
    }

    #[test]
    fn restore_without_node_still_writes_and_says_so() {
        let h = Harness::new(FakeNode::regtest(0));
        let down_node = crate::fake_node::DownNode;
        let mut out = Vec::new();
        let mut err = Vec::new();
        let mut session = test_session(h.path(), false, "pw", &down_node, &mut out, &mut err);
        let input = parse_restore_input(format!("{MNEMONIC}\n").as_bytes()).unwrap();
        restore_wallet(&mut session, input, false).unwrap();
        // Offline, `address` shows the kept index.
        address(&mut session, false).unwrap();
        let err_text = String::from_utf8(err).unwrap();
        let out_text = String::from_utf8(out).unwrap();
        assert!(out_text.contains("no node answered"), "{out_text}");
        assert!(
            err_text.contains("node http://127.0.0.1:1 unreachable"),
            "{err_text}"
        );
        assert!(
            out_text.contains("0x3A2d4145a4F098523b3e8127f1da87cfC55B8E79"),
            "{out_text}"
        );
        assert!(h.path().exists());
    }

    #[test]
    fn address_skips_used_and_new_advances_and_warns_past_gap() {
        let node = FakeNode::regtest(3);
        let keys = test_keys();
        node.set_transaction_count(keys.address(KeyPath::receive(0)).unwrap(), 1);
        let h = Harness::new(node);
        h.restore();
        let (out, _, r) = h.run(true, |s| address(s, false));
        r.unwrap();
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            value["address"],
            keys.address(KeyPath::receive(1)).unwrap().to_string()
        );
        assert_eq!(value["path"], "m/44'/1'/0'/0/1");

        let (out, _, r) = h.run(false, |s| address(s, true));
        r.unwrap();
        assert_eq!(
            out.trim(),
            keys.address(KeyPath::receive(2)).unwrap().to_checksummed()
        );
        // The plain command still shows the first unused one, index 1.
        let (out, _, r) = h.run(false, |s| address(s, false));
        r.unwrap();
        assert_eq!(
            out.trim(),
            keys.address(KeyPath::receive(1)).unwrap().to_checksummed()
        );
        let mut warned = false;
        for _ in 0..20 {
            let (_, err, r) = h.run(false, |s| address(s, true));
            r.unwrap();
            warned |= err.contains("past the gap limit");
        }
        assert!(warned);
    }

    #[test]
    fn plain_address_is_the_first_unused_not_the_newest_handed_out() {
        let node = FakeNode::regtest(3);
        let keys = test_keys();
        let receive = |i| keys.address(KeyPath::receive(i)).unwrap();
        node.set_transaction_count(receive(0), 1);
        let h = Harness::new(node);
        h.restore();
        let show = |new: bool| {
            let (out, _, r) = h.run(true, |s| address(s, new));
            r.unwrap();
            let value: serde_json::Value = serde_json::from_str(&out).unwrap();
            value["path"].as_str().unwrap().to_string()
        };
        assert_eq!(show(false), "m/44'/1'/0'/0/1");
        // Hand out 2 and 3; 3 gets paid, 1 and 2 never are.
        assert_eq!(show(true), "m/44'/1'/0'/0/2");
        assert_eq!(show(true), "m/44'/1'/0'/0/3");
        assert_eq!(show(false), "m/44'/1'/0'/0/1");
        h.node.set_transaction_count(receive(3), 1);
        assert_eq!(show(false), "m/44'/1'/0'/0/1");
        h.node.set_transaction_count(receive(1), 1);
        assert_eq!(show(false), "m/44'/1'/0'/0/2");
        // `--new` still never repeats one handed out before.
        assert_eq!(show(true), "m/44'/1'/0'/0/5");
        assert_eq!(show(false), "m/44'/1'/0'/0/2");
        assert_eq!(
            Keystore::open(&h.path(), "test password")
                .unwrap()
                .next_receive_index(),
            5
        );
    }

    #[test]
    fn balance_history_and_send_through_the_commands() {
        let node = FakeNode::regtest(10);
        let keys = test_keys();
        let r0 = keys.address(KeyPath::receive(0)).unwrap();
        for h in 7..=10u64 {
            node.add_confirmed_output(r0, Hash([h as u8; 32]), 0, 150_000_000, h, true);
            node.add_history(r0, Hash([h as u8; 32]), h, 150_000_000);
        }
        let h = Harness::new(node);
        h.restore();

        let (out, _, r) = h.run(true, |s| balance(s, false));
        r.unwrap();
        assert_eq!(
            out.trim(),
            r#"{"confirmed":4.5,"immature":1.5,"unconfirmed":0}"#
        );
        let (out, _, r) = h.run(true, |s| balance(s, true));
        r.unwrap();
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(value["addresses"][0]["address"], r0.to_string());
        assert!(
            out.starts_with(
                r#"{"confirmed":4.5,"immature":1.5,"unconfirmed":0,"addresses":[{"address":"0x"#
            ),
            "{out}"
        );
        let (out, _, r) = h.run(false, |s| balance(s, true));
        r.unwrap();
        assert!(out.contains(&r0.to_checksummed()), "{out}");

        let (out, _, r) = h.run(true, history);
        r.unwrap();
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(value.as_array().unwrap().len(), 4);
        assert_eq!(value[0]["confirmations"], 1);
        assert_eq!(value[3]["block_height"], 7);
        assert!(
            out.starts_with(r#"[{"hash":"#)
                && out.contains(r#","delta":1.5,"confirmations":1,"block_height":10}"#),
            "{out}"
        );

        let payee = Address([0xab; 20]);
        // A wrong checksum (one letter's case flipped) is refused before anything.
        let typo = flip_first_lowercase_letter(&payee.to_checksummed());
        let (_, _, r) = h.run(false, |s| send(s, &pay(&typo, "1", None, false, false)));
        let err = r.unwrap_err().to_string();
        assert!(err.contains("checksum"), "{err}");
        let checksummed = payee.to_checksummed();
        let to = checksummed.as_str();
        let (_, _, r) = h.run(false, |s| {
            send(s, &pay(to, "1.123456789", None, false, false))
        });
        assert!(r.unwrap_err().to_string().contains("more than 8 decimals"));
        let (_, _, r) = h.run(false, |s| send(s, &pay(to, "5", None, false, false)));
        let err = r.unwrap_err().to_string();
        assert!(
            err.contains("only 4.5 is spendable") && err.contains("1.5 more is immature"),
            "{err}"
        );

        // Dry run: a signed transaction printed, nothing posted.
        let (out, _, r) = h.run(false, |s| {
            send(s, &pay(to, "1.2", Some("0.001"), false, true))
        });
        r.unwrap();
        let tx: Transaction = serde_json::from_str(&out).unwrap();
        let sighash = check_context_free(&tx).unwrap();
        check_signatures(&tx, &sighash).unwrap();
        assert_eq!(tx.fee.units(), 100_000);
        assert!(h.node.posted().is_empty());

        let (out, _, r) = h.run(true, |s| send(s, &pay(to, "1.2", None, true, false)));
        r.unwrap();
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        let posted = h.node.posted();
        assert_eq!(posted.len(), 1);
        assert_eq!(value["hash"], posted[0].hash.to_string());
        assert_eq!(
            value["change_address"],
            keys.address(KeyPath::change(0)).unwrap().to_string()
        );

        h.node.reject_posts(
            "double_spend",
            "input 0 spends an output that is already spent",
        );
        let (_, _, r) = h.run(false, |s| send(s, &pay(to, "1.2", None, false, false)));
        let err = r.unwrap_err().to_string();
        assert_eq!(
            err,
            "node rejected the transaction: double_spend: input 0 spends an output that is already spent"
        );
    }

    /// `send` arguments as the tests give them, `--max-fee` at its default.
    fn pay<'a>(
        to: &'a str,
        amount: &'a str,
        fee: Option<&'a str>,
        fresh_change: bool,
        dry_run: bool,
    ) -> SendArgs<'a> {
        SendArgs {
            to,
            amount: Some(amount),
            fee,
            max_fee: crate::cli::DEFAULT_MAX_FEE,
            fresh_change,
            dry_run,
        }
    }

    #[test]
    fn a_fee_above_max_fee_is_refused_before_the_password() {
        let node = FakeNode::regtest(10);
        let r0 = test_keys().address(KeyPath::receive(0)).unwrap();
        node.add_confirmed_output(r0, Hash([7; 32]), 0, 20 * 100_000_000, 5, false);
        let h = Harness::new(node);
        // No wallet yet: the fee is refused before the keystore is opened.
        let to = Address([0xab; 20]).to_checksummed();
        let (_, _, r) = h.run(false, |s| send(s, &pay(&to, "5", Some("5"), false, true)));
        let err = r.unwrap_err().to_string();
        assert!(
            err.contains("the fee 5 is above the maximum of 0.1") && err.contains("--max-fee"),
            "{err}"
        );
        h.restore();
        let (_, _, r) = h.run(false, |s| {
            send(
                s,
                &SendArgs {
                    max_fee: "5",
                    ..pay(&to, "5", Some("5"), false, false)
                },
            )
        });
        r.unwrap();
        assert_eq!(h.node.posted()[0].fee.units(), 5 * 100_000_000);
        let (_, _, r) = h.run(false, |s| {
            send(
                s,
                &SendArgs {
                    max_fee: "-1",
                    ..pay(&to, "1", None, false, true)
                },
            )
        });
        assert!(r.unwrap_err().to_string().contains("\"-1\""));
    }

    fn flip_first_lowercase_letter(text: &str) -> String {
        let i = text[2..].find(|c: char| c.is_ascii_lowercase()).unwrap() + 2;
        let mut out = text.to_string();
        out.replace_range(i..=i, &text[i..=i].to_uppercase());
        out
    }

    #[test]
    fn wrong_password_is_one_line() {
        let h = Harness::new(FakeNode::regtest(0));
        h.restore();
        let mut out = Vec::new();
        let mut err = Vec::new();
        let mut session = test_session(h.path(), false, "not it", &h.node, &mut out, &mut err);
        let e = balance(&mut session, false).unwrap_err().to_string();
        assert!(e.contains("wrong password"), "{e}");
    }

    /// Sets the keystore's kept receive index, as `address --new` would have.
    fn keep_receive_index(h: &Harness, index: u32) {
        let mut keystore = Keystore::open(&h.path(), "test password").unwrap();
        keystore.set_next_receive_index(index).unwrap();
    }

    #[test]
    fn gap_warning_counts_from_what_a_restore_finds() {
        let node = FakeNode::regtest(3);
        let keys = test_keys();
        node.set_transaction_count(keys.address(KeyPath::receive(0)).unwrap(), 1);
        let h = Harness::new(node);
        h.restore();
        // Handed out up to index 25 earlier, and index 25 got paid: this
        // keystore scans to it, a fresh restore stops at index 20.
        keep_receive_index(&h, 25);
        h.node
            .set_transaction_count(keys.address(KeyPath::receive(25)).unwrap(), 1);
        let (out, err, r) = h.run(false, |s| address(s, true));
        r.unwrap();
        assert_eq!(
            out.trim(),
            keys.address(KeyPath::receive(27)).unwrap().to_checksummed()
        );
        assert!(err.contains("past the gap limit"), "{err}");
        assert!(err.contains("(index 0)"), "{err}");
        assert_eq!(
            err.lines().filter(|l| l.contains("gap")).count(),
            1,
            "{err}"
        );
        // The plain command shows the first unused, index 1: nothing to warn.
        let (out, err, r) = h.run(false, |s| address(s, false));
        r.unwrap();
        assert_eq!(
            out.trim(),
            keys.address(KeyPath::receive(1)).unwrap().to_checksummed()
        );
        assert!(!err.contains("gap"), "{err}");

        // Within what a restore finds: no warning (index 20 is still scanned).
        let h = Harness::new(FakeNode::regtest(3));
        h.node
            .set_transaction_count(keys.address(KeyPath::receive(0)).unwrap(), 1);
        h.restore();
        keep_receive_index(&h, 19);
        let (out, err, r) = h.run(false, |s| address(s, true));
        r.unwrap();
        assert_eq!(
            out.trim(),
            keys.address(KeyPath::receive(20)).unwrap().to_checksummed()
        );
        assert!(!err.contains("gap"), "{err}");
        let (_, err, r) = h.run(false, |s| address(s, true));
        r.unwrap();
        assert!(
            err.contains("address index 21 is past the gap limit"),
            "{err}"
        );
    }

    #[test]
    fn change_landing_beyond_what_a_restore_finds_warns() {
        let node = FakeNode::regtest(10);
        let keys = test_keys();
        let r25 = keys.address(KeyPath::receive(25)).unwrap();
        node.add_confirmed_output(r25, Hash([7; 32]), 0, 300_000_000, 5, false);
        let h = Harness::new(node);
        h.restore();
        keep_receive_index(&h, 25);
        let to = Address([0xab; 20]).to_checksummed();
        let (_, err, r) = h.run(false, |s| send(s, &pay(&to, "1", None, false, true)));
        r.unwrap();
        assert!(
            err.contains(&format!("the change goes to {}", r25.to_checksummed()))
                && err.contains("past the gap limit"),
            "{err}"
        );
        // Fresh change (change chain, within its gap): no warning.
        let (_, err, r) = h.run(false, |s| send(s, &pay(&to, "1", None, true, true)));
        r.unwrap();
        assert!(!err.contains("change goes"), "{err}");
    }

    #[test]
    fn offline_address_past_twenty_warns_that_it_cannot_check() {
        let h = Harness::new(FakeNode::regtest(0));
        h.restore();
        keep_receive_index(&h, 18);
        let mut err_lines = Vec::new();
        for expected in [19u32, 20, 21] {
            let mut out = Vec::new();
            let mut err = Vec::new();
            let mut session = Session {
                warn_weak_kdf: false,
                ..test_session(
                    h.path(),
                    true,
                    "test password",
                    &crate::fake_node::DownNode,
                    &mut out,
                    &mut err,
                )
            };
            address(&mut session, true).unwrap();
            let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(value["path"], format!("m/44'/1'/0'/0/{expected}"));
            err_lines.push(String::from_utf8(err).unwrap());
        }
        assert!(!err_lines[0].contains("gap"), "{}", err_lines[0]);
        for err in &err_lines[1..] {
            assert!(
                err.contains("may be past the gap limit") && err.contains("offline"),
                "{err}"
            );
        }
    }

    /// A writer whose every write fails, like a closed pipe.
    struct BrokenPipe;

    impl Write for BrokenPipe {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
        }
    }

    #[test]
    fn new_removes_its_keystore_when_the_mnemonic_cannot_be_shown() {
        for json in [false, true] {
            let h = Harness::new(FakeNode::regtest(0));
            let mut out = BrokenPipe;
            let mut err = Vec::new();
            let mut session = test_session(h.path(), json, "pw", &h.node, &mut out, &mut err);
            let e =
                new_wallet(&mut session, WordCount::Twelve, Default::default(), false).unwrap_err();
            assert!(
                matches!(e, WalletError::MnemonicNotShown { removed: true, .. }),
                "{e}"
            );
            assert!(e.to_string().contains("removed"), "{e}");
            assert!(!h.path().exists(), "json {json}");
        }
        // With --force over an existing wallet, the new file stays (the old
        // one is gone either way) and the message says what to do.
        let h = Harness::new(FakeNode::regtest(0));
        h.restore();
        let mut out = BrokenPipe;
        let mut err = Vec::new();
        let mut session = test_session(h.path(), false, "pw", &h.node, &mut out, &mut err);
        let e = new_wallet(&mut session, WordCount::Twelve, Default::default(), true).unwrap_err();
        assert!(
            matches!(e, WalletError::MnemonicNotShown { removed: false, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("new --force"), "{e}");
        assert!(h.path().exists());
    }

    #[test]
    fn send_all_sweeps_the_largest_coins_and_says_how_many_are_left() {
        let node = FakeNode::regtest(10);
        let r0 = test_keys().address(KeyPath::receive(0)).unwrap();
        for n in 0..(MAX_INPUTS as u32 + 4) {
            node.add_confirmed_output(r0, Hash([7; 32]), n, 1_000_000 + u64::from(n), 5, false);
        }
        let h = Harness::new(node);
        h.restore();
        let to = Address([0xab; 20]).to_checksummed();
        let all = SendArgs {
            amount: None,
            ..pay(&to, "", None, false, false)
        };
        let (out, err, r) = h.run(true, |s| send(s, &all));
        r.unwrap();
        let posted = h.node.posted();
        assert_eq!(posted.len(), 1);
        let tx = &posted[0];
        assert_eq!(tx.inputs.len(), MAX_INPUTS);
        assert!(tx.inputs.iter().all(|i| i.output_index >= 4));
        assert_eq!(tx.outputs.len(), 1);
        let total: u64 = tx.inputs.iter().map(|i| i.output_value.units()).sum();
        assert_eq!(tx.outputs[0].value.units(), total - tx.fee.units());
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(value["hash"], tx.hash.to_string());
        assert_eq!(value["coins_left"], 4);
        assert_eq!(value["change_address"], serde_json::Value::Null);
        assert_eq!(
            value["amount"],
            serde_json::to_value(tx.outputs[0].value).unwrap()
        );
        assert!(
            err.contains("sweeps the 256 largest, 4 smaller ones are left"),
            "{err}"
        );

        // Text, dry run: the transaction on stdout, the note on stderr.
        let (out, err, r) = h.run(false, |s| {
            send(
                s,
                &SendArgs {
                    dry_run: true,
                    ..all
                },
            )
        });
        r.unwrap();
        let tx: Transaction = serde_json::from_str(&out).unwrap();
        assert_eq!(tx.inputs.len(), MAX_INPUTS);
        assert!(err.contains("4 smaller ones are left"), "{err}");
        assert_eq!(h.node.posted().len(), 1);
    }

    #[test]
    fn send_all_of_few_coins_reports_the_amount_and_no_note() {
        let node = FakeNode::regtest(10);
        let r0 = test_keys().address(KeyPath::receive(0)).unwrap();
        node.add_confirmed_output(r0, Hash([7; 32]), 0, 300_000_000, 5, false);
        node.add_confirmed_output(r0, Hash([8; 32]), 0, 100_000_000, 6, false);
        let h = Harness::new(node);
        h.restore();
        let to = Address([0xab; 20]).to_checksummed();
        let all = SendArgs {
            amount: None,
            ..pay(&to, "", Some("0.001"), false, true)
        };
        let (out, err, r) = h.run(true, |s| send(s, &all));
        r.unwrap();
        assert!(!err.contains("note"), "{err}");
        assert!(
            out.contains(
                r#","fee":0.001,"change":0,"change_address":null,"amount":3.999,"coins_left":0}"#
            ),
            "{out}"
        );
    }

    #[test]
    fn dry_run_json_is_one_line_with_the_transaction_and_report() {
        let node = FakeNode::regtest(10);
        let r0 = test_keys().address(KeyPath::receive(0)).unwrap();
        node.add_confirmed_output(r0, Hash([7; 32]), 0, 300_000_000, 5, false);
        let h = Harness::new(node);
        h.restore();
        let to = Address([0xab; 20]).to_checksummed();
        let (out, _, r) = h.run(true, |s| {
            send(s, &pay(&to, "1", Some("0.001"), false, true))
        });
        r.unwrap();
        assert_eq!(out.lines().count(), 1, "{out}");
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        let tx: Transaction = serde_json::from_value(value["transaction"].clone()).unwrap();
        assert_eq!(value["hash"], tx.hash.to_string());
        assert_eq!(value["fee"], serde_json::json!(0.001));
        assert_eq!(value["change_address"], r0.to_string());
        assert!(
            out.contains(r#","fee":0.001,"change":1.999,"change_address":"#),
            "{out}"
        );
        assert!(h.node.posted().is_empty());
        // Without --json: the pretty transaction, as before.
        let (out, _, r) = h.run(false, |s| {
            send(s, &pay(&to, "1", Some("0.001"), false, true))
        });
        r.unwrap();
        assert!(out.lines().count() > 1);
        assert!(serde_json::from_str::<Transaction>(&out).is_ok());
    }

    #[test]
    fn weak_key_stretching_is_warned_on_write_and_open() {
        let h = Harness::new(FakeNode::regtest(0));
        let (_, err, r) = h.run(false, |s| {
            restore_wallet(
                s,
                parse_restore_input(format!("{MNEMONIC}\n\n").as_bytes()).unwrap(),
                false,
            )
        });
        r.unwrap();
        assert_eq!(
            err.lines().filter(|l| *l == WEAK_KDF_WRITE_WARNING).count(),
            1,
            "{err}"
        );
        let (_, err, r) = h.run(false, |s| balance(s, false));
        r.unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("weak key-stretching parameters (argon2id 8 KiB, 1 iterations)"),
            "{err}"
        );
        // Asked for on purpose (CINDER_WALLET_KDF_* set): no warning on open.
        let mut out = Vec::new();
        let mut err = Vec::new();
        let mut session = Session {
            warn_weak_kdf: false,
            ..test_session(
                h.path(),
                false,
                "test password",
                &h.node,
                &mut out,
                &mut err,
            )
        };
        balance(&mut session, false).unwrap();
        assert!(err.is_empty(), "{}", String::from_utf8_lossy(&err));
        // Default parameters: nothing to say on write.
        let h = Harness::new(FakeNode::regtest(0));
        let (_, err, r) = h.run(false, |s| {
            s.kdf = KdfParams::default();
            new_wallet(s, WordCount::Twelve, Default::default(), false)
        });
        r.unwrap();
        assert!(err.is_empty(), "{err}");
    }
}
