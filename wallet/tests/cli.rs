//! The real `wallet` binary's command line, without a node. (Building this
//! test also makes `cargo test --workspace` build the binary that the
//! end-to-end tests in `testing/` run.)

use std::process::{Command, Stdio};

/// A seed and a node nothing answers at (port 1 is privileged: no test or
/// developer process listens there), for runs without `--node`: a
/// developer's seed on 127.0.0.1:42020 or node on 127.0.0.1:50000 must never
/// be reached by these tests.
const NOWHERE: &str = "127.0.0.1:1";

fn wallet() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wallet"));
    c.env_remove("CINDER_WALLET_PASSWORD")
        .env("CINDER_DEFAULT_NODE", NOWHERE)
        .stdin(Stdio::null());
    c
}

/// The wallet in a session of its own (util-linux `setsid`, when there is
/// one), so it has no terminal to prompt on even when the tests run in one:
/// the wallet asks for a password on /dev/tty whatever stdin is.
fn wallet_without_terminal() -> Command {
    let setsid = Command::new("setsid")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let mut c = if setsid {
        let mut c = Command::new("setsid");
        c.arg("--wait").arg(env!("CARGO_BIN_EXE_wallet"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_wallet"))
    };
    c.env_remove("CINDER_WALLET_PASSWORD")
        .env("CINDER_DEFAULT_NODE", NOWHERE)
        .stdin(Stdio::null());
    c
}

#[test]
fn help_lists_every_command() {
    let out = wallet().arg("--help").output().expect("wallet runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for command in ["new", "restore", "address", "balance", "history", "send"] {
        assert!(text.contains(command), "{command} missing from:\n{text}");
    }
}

/// `wallet help`, with or without a command, and `wallet help --help`
/// print help and exit 0 (clap's own help command refused `--help`).
#[test]
fn help_command_prints_help() {
    let run = |args: &[&str]| {
        let out = wallet().args(args).output().expect("wallet runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), stdout, stderr)
    };
    for args in [&["help", "--help"][..], &["help", "-h"]] {
        let (code, stdout, stderr) = run(args);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert!(stdout.contains("Usage: wallet help"), "{args:?}: {stdout}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
    let (code, stdout, _) = run(&["help"]);
    assert_eq!(code, Some(0));
    let (_, long, _) = run(&["--help"]);
    assert_eq!(stdout, long, "`wallet help` is `wallet --help`");
    let (code, stdout, _) = run(&["help", "send"]);
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("Usage: wallet send") && stdout.contains("--max-fee"),
        "{stdout}"
    );
    let (code, stdout, stderr) = run(&["help", "bogus"]);
    assert_eq!(code, Some(1));
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("'bogus'"), "{stderr}");
}

#[test]
fn no_password_without_a_terminal_is_one_clear_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("w.json");
    let out = wallet_without_terminal()
        .args([
            "--dns",
            NOWHERE,
            "-w",
            file.to_str().expect("utf-8 path"),
            "new",
        ])
        .output()
        .expect("wallet runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.to_lowercase().contains("password"), "{err}");
    assert!(!file.exists(), "nothing written without a password");
}

#[test]
fn bad_amount_is_refused_before_anything_else() {
    let out = wallet()
        .args([
            "send",
            "--to",
            "0x3a2d4145a4f098523b3e8127f1da87cfc55b8e79",
            "--amount",
            "1.123456789",
            "--node",
            "http://127.0.0.1:1",
        ])
        .env("CINDER_WALLET_PASSWORD", "x")
        .args(["-w", "/nonexistent/w.json"])
        .output()
        .expect("wallet runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("more than 8 decimals"), "{err}");
}

#[test]
fn wrong_checksum_is_refused() {
    let out = wallet()
        .args([
            "send",
            "--to",
            "0x3A2d4145a4F098523b3e8127f1da87cfC55B8E7a",
            "--amount",
            "1",
            "--node",
            "http://127.0.0.1:1",
        ])
        .env("CINDER_WALLET_PASSWORD", "x")
        .args(["-w", "/nonexistent/w.json"])
        .output()
        .expect("wallet runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("wrong checksum"), "{err}");
}

#[test]
fn negative_amount_or_fee_is_the_wallets_own_one_line_error() {
    for (amount, fee) in [("-1", "0.001"), ("1", "-1")] {
        let out = wallet()
            .args([
                "send",
                "--to",
                "0x3a2d4145a4f098523b3e8127f1da87cfc55b8e79",
                "--amount",
                amount,
                "--fee",
                fee,
                "-w",
                "/nonexistent/w.json",
            ])
            .output()
            .expect("wallet runs");
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("\"-1\""), "{err}");
    }
}

#[test]
fn usage_errors_are_one_line_and_exit_1() {
    for args in [
        &["balance", "--bogus"][..],
        &["send", "--to", "0xab"],
        &["new", "--words", "13"],
        &[],
    ] {
        let out = wallet().args(args).output().expect("wallet runs");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{err}");
    }
    let out = wallet().arg("--version").output().expect("wallet runs");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_fee_above_max_fee_is_refused_naming_the_flag() {
    let out = wallet()
        .args([
            "send",
            "--to",
            "0x3a2d4145a4f098523b3e8127f1da87cfc55b8e79",
            "--amount",
            "5",
            "--fee",
            "5",
            "--node",
            "http://127.0.0.1:1",
            "-w",
            "/nonexistent/w.json",
        ])
        .env("CINDER_WALLET_PASSWORD", "x")
        .output()
        .expect("wallet runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("the fee 5 is above the maximum of 0.1") && err.contains("--max-fee"),
        "{err}"
    );
}

/// The one JSON object a failed `--json` command prints on stdout.
fn json_error(out: &std::process::Output) -> serde_json::Value {
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 1, "{text}");
    let value: serde_json::Value = serde_json::from_str(&text).expect("one JSON object");
    let fields: Vec<&String> = value.as_object().expect("an object").keys().collect();
    assert_eq!(fields, ["error", "message"], "{value}");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    value
}

#[test]
fn with_json_errors_are_one_json_object_on_stdout() {
    let out = wallet()
        .args([
            "--json",
            "--dns",
            NOWHERE,
            "-w",
            "/nonexistent/w.json",
            "balance",
        ])
        .env("CINDER_WALLET_PASSWORD", "x")
        .output()
        .expect("wallet runs");
    let value = json_error(&out);
    assert_eq!(value["error"], "no_wallet", "{value}");
    let message = value["message"].as_str().expect("a message");
    assert!(
        message.starts_with("no wallet at /nonexistent/w.json"),
        "{message}"
    );

    let out = wallet()
        .args(["balance", "--bogus", "--json"])
        .output()
        .expect("wallet runs");
    let value = json_error(&out);
    assert_eq!(value["error"], "usage", "{value}");
    assert!(
        value["message"]
            .as_str()
            .is_some_and(|m| m.contains("--bogus"))
    );

    let out = wallet()
        .args([
            "--json",
            "send",
            "--to",
            "0x3a2d4145a4f098523b3e8127f1da87cfc55b8e79",
            "--amount",
            "1.123456789",
        ])
        .output()
        .expect("wallet runs");
    assert_eq!(json_error(&out)["error"], "bad_amount");
}

#[test]
fn send_takes_all_or_an_amount_not_both() {
    let out = wallet()
        .args([
            "send",
            "--to",
            "0x3a2d4145a4f098523b3e8127f1da87cfc55b8e79",
            "--all",
            "--amount",
            "1",
        ])
        .output()
        .expect("wallet runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("--amount") && err.contains("cannot be used with") && err.contains("--all"),
        "{err}"
    );
    // --all alone gets past the command line (to the missing wallet).
    let out = wallet()
        .args([
            "send",
            "--to",
            "0x3a2d4145a4f098523b3e8127f1da87cfc55b8e79",
            "--all",
            "--dns",
            NOWHERE,
            "-w",
            "/nonexistent/w.json",
        ])
        .env("CINDER_WALLET_PASSWORD", "x")
        .output()
        .expect("wallet runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no wallet at /nonexistent/w.json"), "{err}");
}
