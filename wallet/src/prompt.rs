//! Where secrets come from: the keystore password from `--password-file`,
//! `CINDER_WALLET_PASSWORD` or a prompt on the terminal (`/dev/tty`, also
//! when stdin is a pipe; never stdin); the mnemonic for `restore` from stdin
//! or a prompt. Prompts turn the terminal's echo off with `stty` while a
//! secret is typed.

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use zeroize::Zeroizing;

/// The environment variable holding the keystore password.
pub const ENV_PASSWORD: &str = "CINDER_WALLET_PASSWORD";

#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error(
        "no {0}: no terminal to prompt on, so give the password with --password-file or {ENV_PASSWORD}"
    )]
    NoPassword(&'static str),
    #[error("no terminal to ask for the {0} on")]
    NoTerminal(&'static str),
    // As in `KeystoreError`: the OS error is in the message, not a `source()`.
    #[error("cannot read password file {path}: {error}")]
    PasswordFile {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("the password is empty: a wallet needs a password")]
    EmptyPassword,
    #[error("the passwords typed do not match")]
    Mismatch,
    #[error("cannot read {what}: {error}")]
    Read {
        what: &'static str,
        error: std::io::Error,
    },
    #[error("no mnemonic given: write it on the first line of stdin")]
    NoMnemonic,
}

/// Where the keystore password comes from, in order. (No `Debug`: it
/// would print the password.)
#[derive(Clone, Default)]
pub struct PasswordSource {
    pub file: Option<PathBuf>,
    /// The value of `CINDER_WALLET_PASSWORD`, if set.
    pub env: Option<Zeroizing<String>>,
}

/// Asks for one secret line: `read_hidden`'s signature.
type Ask<'a> = &'a mut dyn FnMut(&str, &'static str) -> Result<Zeroizing<String>, PromptError>;

impl PasswordSource {
    pub fn from_env(file: Option<PathBuf>) -> PasswordSource {
        PasswordSource {
            file,
            env: std::env::var(ENV_PASSWORD).ok().map(Zeroizing::new),
        }
    }

    /// The password to open an existing keystore.
    pub fn password(&self) -> Result<Zeroizing<String>, PromptError> {
        self.get(false, &mut read_hidden)
    }

    /// The password for a new keystore: typed twice when prompted, never empty.
    pub fn new_password(&self) -> Result<Zeroizing<String>, PromptError> {
        let password = self.get(true, &mut read_hidden)?;
        if password.is_empty() {
            return Err(PromptError::EmptyPassword);
        }
        Ok(password)
    }

    /// The file, else the environment, else `ask` on the terminal, whatever
    /// stdin is (`printf … | wallet restore` prompts on `/dev/tty`).
    fn get(&self, confirm: bool, ask: Ask) -> Result<Zeroizing<String>, PromptError> {
        if let Some(path) = &self.file {
            return read_password_file(path);
        }
        if let Some(env) = &self.env {
            return Ok(env.clone());
        }
        let no_terminal = |e| match e {
            PromptError::NoTerminal(_) => PromptError::NoPassword("wallet password"),
            other => other,
        };
        let password = ask("wallet password: ", "wallet password").map_err(no_terminal)?;
        if confirm {
            let again = ask("wallet password again: ", "wallet password").map_err(no_terminal)?;
            if *again != *password {
                return Err(PromptError::Mismatch);
            }
        }
        Ok(password)
    }
}

impl std::fmt::Debug for PasswordSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordSource")
            .field("file", &self.file)
            .field("env", &self.env.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

/// The first line of the file (the line ending removed).
fn read_password_file(path: &Path) -> Result<Zeroizing<String>, PromptError> {
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|error| {
        PromptError::PasswordFile {
            path: path.to_path_buf(),
            error,
        }
    })?);
    Ok(Zeroizing::new(
        text.lines().next().unwrap_or("").to_string(),
    ))
}

/// A line without its `\n` or `\r\n`.
fn strip_line_end(line: &mut String) {
    while line.ends_with('\n') || line.ends_with('\r') {
        line.pop();
    }
}

/// Restores the terminal's echo when dropped.
struct EchoOff;

impl EchoOff {
    fn set(on: bool) -> bool {
        let Ok(tty) = File::open("/dev/tty") else {
            return false;
        };
        Command::new("stty")
            .arg(if on { "echo" } else { "-echo" })
            .stdin(tty)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        EchoOff::set(true);
    }
}

/// Asks on the terminal (`/dev/tty`) with echo off; one line.
pub fn read_hidden(prompt: &str, what: &'static str) -> Result<Zeroizing<String>, PromptError> {
    let read_err = |error| PromptError::Read { what, error };
    let mut tty_out = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/tty")
        .map_err(|_| PromptError::NoTerminal(what))?;
    let tty_in = File::open("/dev/tty").map_err(|_| PromptError::NoTerminal(what))?;
    tty_out.write_all(prompt.as_bytes()).map_err(read_err)?;
    tty_out.flush().map_err(read_err)?;
    let guard = EchoOff::set(false).then_some(EchoOff);
    let mut line = Zeroizing::new(String::new());
    let result = BufReader::new(tty_in).read_line(&mut line);
    drop(guard);
    let _ = tty_out.write_all(b"\n");
    result.map_err(read_err)?;
    strip_line_end(&mut line);
    Ok(line)
}

/// What `restore` reads: the mnemonic and the BIP-39 passphrase.
pub struct RestoreInput {
    pub mnemonic: Zeroizing<String>,
    pub passphrase: Zeroizing<String>,
}

/// Line 1 the mnemonic, line 2 the BIP-39 passphrase (absent or empty: none).
pub fn parse_restore_input(mut reader: impl BufRead) -> Result<RestoreInput, PromptError> {
    let read = |reader: &mut dyn BufRead| -> Result<Zeroizing<String>, PromptError> {
        let mut line = Zeroizing::new(String::new());
        reader
            .read_line(&mut line)
            .map_err(|error| PromptError::Read {
                what: "stdin",
                error,
            })?;
        strip_line_end(&mut line);
        Ok(line)
    };
    let mnemonic = read(&mut reader)?;
    if mnemonic.trim().is_empty() {
        return Err(PromptError::NoMnemonic);
    }
    let passphrase = read(&mut reader)?;
    Ok(RestoreInput {
        mnemonic,
        passphrase,
    })
}

/// The restore input: from stdin, or prompted when stdin is a terminal.
pub fn read_restore_input() -> Result<RestoreInput, PromptError> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return parse_restore_input(stdin.lock());
    }
    let mnemonic = read_hidden("mnemonic (words separated by spaces): ", "mnemonic")?;
    if mnemonic.trim().is_empty() {
        return Err(PromptError::NoMnemonic);
    }
    let passphrase = read_hidden("BIP-39 passphrase (empty for none): ", "passphrase")?;
    Ok(RestoreInput {
        mnemonic,
        passphrase,
    })
}

/// The BIP-39 passphrase of `new --passphrase`: prompted twice on the
/// terminal (`/dev/tty`, whatever stdin is).
pub fn read_new_passphrase() -> Result<Zeroizing<String>, PromptError> {
    let passphrase = read_hidden("BIP-39 passphrase: ", "passphrase").map_err(|e| match e {
        PromptError::NoTerminal(_) => PromptError::NoTerminal(
            "BIP-39 passphrase (to create a wallet with one non-interactively, use `wallet restore`)",
        ),
        other => other,
    })?;
    let again = read_hidden("BIP-39 passphrase again: ", "passphrase")?;
    if *again != *passphrase {
        return Err(PromptError::Mismatch);
    }
    Ok(passphrase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_input_lines() {
        let input = parse_restore_input("word1 word2\r\nmy pass \n".as_bytes()).unwrap();
        assert_eq!(input.mnemonic.as_str(), "word1 word2");
        assert_eq!(input.passphrase.as_str(), "my pass ");
        let input = parse_restore_input("word1 word2".as_bytes()).unwrap();
        assert_eq!(input.passphrase.as_str(), "");
        assert!(matches!(
            parse_restore_input("\n".as_bytes()),
            Err(PromptError::NoMnemonic)
        ));
        assert!(matches!(
            parse_restore_input("".as_bytes()),
            Err(PromptError::NoMnemonic)
        ));
    }

    #[test]
    fn password_file_first_then_env() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "from file\nignored\n").unwrap();
        let source = PasswordSource {
            file: Some(path.clone()),
            env: Some(Zeroizing::new("from env".into())),
        };
        assert_eq!(source.password().unwrap().as_str(), "from file");
        let source = PasswordSource {
            file: None,
            env: Some(Zeroizing::new("from env".into())),
        };
        assert_eq!(source.new_password().unwrap().as_str(), "from env");
        let source = PasswordSource {
            file: None,
            env: Some(Zeroizing::new(String::new())),
        };
        assert!(matches!(
            source.new_password(),
            Err(PromptError::EmptyPassword)
        ));
        let source = PasswordSource {
            file: Some(dir.path().join("missing")),
            env: None,
        };
        let err = source.password().unwrap_err().to_string();
        assert!(err.contains("cannot read password file"), "{err}");
    }

    #[test]
    fn without_file_or_env_the_terminal_is_asked_whatever_stdin_is() {
        let source = PasswordSource::default();
        let mut asked = Vec::new();
        let mut ask = |prompt: &str, _: &'static str| {
            asked.push(prompt.to_string());
            Ok(Zeroizing::new("typed".to_string()))
        };
        assert_eq!(source.get(true, &mut ask).unwrap().as_str(), "typed");
        assert_eq!(asked, ["wallet password: ", "wallet password again: "]);
        // No terminal at all: one line naming the other ways.
        let mut no_tty = |_: &str, what: &'static str| Err(PromptError::NoTerminal(what));
        let err = source.get(false, &mut no_tty).unwrap_err();
        assert!(matches!(err, PromptError::NoPassword(_)), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("--password-file") && text.contains(ENV_PASSWORD),
            "{text}"
        );
        // Debug never shows the password.
        let source = PasswordSource {
            file: None,
            env: Some(Zeroizing::new("secret".into())),
        };
        assert!(!format!("{source:?}").contains("secret"));
    }
}
