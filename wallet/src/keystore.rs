//! The keystore file: the wallet's secrets encrypted with a key stretched
//! from the password by argon2id, sealed with ChaCha20-Poly1305.
//!
//! ```json
//! { "version": 1,
//!   "kdf": {"algorithm": "argon2id", "memory_kib": 65536, "iterations": 3, "parallelism": 1},
//!   "salt": "<hex, 16 bytes>", "nonce": "<hex, 12 bytes>",
//!   "ciphertext": "<hex>", "next_receive_index": 0 }
//! ```
//!
//! The plaintext is `entropy length (1 byte) ‖ entropy ‖ passphrase (UTF-8)`.
//! `next_receive_index` is not secret and stays readable, but it is
//! authenticated: the version, KDF parameters, salt and index are the AEAD's
//! associated data, so editing any of them makes the file fail to open like
//! a wrong password would. The file keeps nothing else (no addresses, no
//! balances). It is written atomically (temporary file in the same
//! directory, fsync, then a hard link that fails if the file exists for a
//! new keystore, a rename over it otherwise) with mode 0600, its directory
//! created 0700.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::keys::Secrets;

const VERSION: u32 = 1;
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const KEY_LEN: usize = 32;
const ALGORITHM: &str = "argon2id";
/// Bounds on KDF parameters read from a file, so a corrupt file cannot ask
/// for terabytes of memory or hours of work.
const MAX_MEMORY_KIB: u32 = 4 * 1024 * 1024;
const MAX_ITERATIONS: u32 = 64;
const MAX_PARALLELISM: u32 = 16;

/// Environment variables that set the KDF cost of newly written keystores
/// (tests use them to stay fast; opening always uses the file's own values).
pub const ENV_KDF_MEMORY_KIB: &str = "CINDER_WALLET_KDF_MEMORY_KIB";
pub const ENV_KDF_ITERATIONS: &str = "CINDER_WALLET_KDF_ITERATIONS";

#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    #[error("no wallet at {0}: create one with `wallet new` or `wallet restore`")]
    Missing(PathBuf),
    #[error(
        "a wallet already exists at {0}: use --force to replace it (its coins are lost unless its mnemonic is kept)"
    )]
    Exists(PathBuf),
    // The OS error is part of the message and deliberately not a
    // `source()`: a caller printing the chain (anyhow's `{:#}`) would
    // otherwise show it twice.
    #[error("cannot read wallet {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot write wallet {path}: {error}")]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("wallet file {path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("cannot open wallet {0}: wrong password, or the file was modified")]
    Decrypt(PathBuf),
    #[error("invalid key derivation parameters: {0}")]
    Kdf(String),
    #[error("encryption failed")]
    Encrypt,
}

/// argon2id cost parameters, stored in the file beside the salt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for KdfParams {
    /// 64 MiB, 3 passes, 1 lane: about a second on a laptop.
    fn default() -> KdfParams {
        KdfParams {
            memory_kib: 64 * 1024,
            iterations: 3,
            parallelism: 1,
        }
    }
}

impl KdfParams {
    /// Below the default cost in memory or passes: a password guess is
    /// cheaper than this wallet means it to be.
    pub fn is_weak(&self) -> bool {
        let default = KdfParams::default();
        self.memory_kib < default.memory_kib || self.iterations < default.iterations
    }

    /// Whether `CINDER_WALLET_KDF_MEMORY_KIB` or `CINDER_WALLET_KDF_ITERATIONS`
    /// is set: the caller chose the KDF cost on purpose (tests).
    pub fn env_overridden() -> bool {
        std::env::var_os(ENV_KDF_MEMORY_KIB).is_some()
            || std::env::var_os(ENV_KDF_ITERATIONS).is_some()
    }

    /// The cheapest parameters argon2 accepts; for tests only.
    pub fn insecure_for_tests() -> KdfParams {
        KdfParams {
            memory_kib: 8,
            iterations: 1,
            parallelism: 1,
        }
    }

    /// The default, with memory and iterations overridden by
    /// `CINDER_WALLET_KDF_MEMORY_KIB` and `CINDER_WALLET_KDF_ITERATIONS`.
    pub fn from_env() -> Result<KdfParams, KeystoreError> {
        let mut params = KdfParams::default();
        let read =
            |name: &str| -> Result<Option<u32>, KeystoreError> {
                match std::env::var(name) {
                    Ok(text) => text.trim().parse().map(Some).map_err(|_| {
                        KeystoreError::Kdf(format!("{name}={text:?} is not a number"))
                    }),
                    Err(_) => Ok(None),
                }
            };
        if let Some(m) = read(ENV_KDF_MEMORY_KIB)? {
            params.memory_kib = m;
        }
        if let Some(t) = read(ENV_KDF_ITERATIONS)? {
            params.iterations = t;
        }
        params.check()?;
        Ok(params)
    }

    fn check(&self) -> Result<(), KeystoreError> {
        if self.memory_kib > MAX_MEMORY_KIB
            || self.iterations > MAX_ITERATIONS
            || self.parallelism > MAX_PARALLELISM
        {
            return Err(KeystoreError::Kdf(format!(
                "{self:?} exceed the limits (memory {MAX_MEMORY_KIB} KiB, {MAX_ITERATIONS} iterations, {MAX_PARALLELISM} lanes)"
            )));
        }
        self.argon2().map(|_| ())
    }

    fn argon2(&self) -> Result<argon2::Argon2<'static>, KeystoreError> {
        let params = argon2::Params::new(
            self.memory_kib,
            self.iterations,
            self.parallelism,
            Some(KEY_LEN),
        )
        .map_err(|e| KeystoreError::Kdf(format!("{self:?}: {e}")))?;
        Ok(argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            params,
        ))
    }

    fn derive_key(
        &self,
        password: &str,
        salt: &[u8],
    ) -> Result<Zeroizing<[u8; KEY_LEN]>, KeystoreError> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        self.argon2()?
            .hash_password_into(password.as_bytes(), salt, key.as_mut())
            .map_err(|e| KeystoreError::Kdf(e.to_string()))?;
        Ok(key)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KdfSection {
    algorithm: String,
    #[serde(flatten)]
    params: KdfParams,
}

/// The file as stored.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeystoreFile {
    version: u32,
    kdf: KdfSection,
    salt: String,
    nonce: String,
    ciphertext: String,
    next_receive_index: u32,
}

/// An opened keystore: the secrets, the derived key (to write the file again
/// without asking for the password), and the receive index.
pub struct Keystore {
    path: PathBuf,
    kdf: KdfParams,
    salt: [u8; SALT_LEN],
    key: Zeroizing<[u8; KEY_LEN]>,
    secrets: Secrets,
    next_receive_index: u32,
}

impl std::fmt::Debug for Keystore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keystore({})", self.path.display())
    }
}

/// Fails with [`KeystoreError::Exists`] when `path` exists and `force` is
/// not set; `new` and `restore` call it before asking for anything.
pub fn check_can_create(path: &Path, force: bool) -> Result<(), KeystoreError> {
    if !force && path.exists() {
        return Err(KeystoreError::Exists(path.to_path_buf()));
    }
    Ok(())
}

impl Keystore {
    /// Encrypts `secrets` under `password` and writes a new keystore at `path`.
    pub fn create(
        path: &Path,
        secrets: Secrets,
        password: &str,
        kdf: KdfParams,
        force: bool,
    ) -> Result<Keystore, KeystoreError> {
        check_can_create(path, force)?;
        kdf.check()?;
        let mut salt = [0u8; SALT_LEN];
        {
            use rand::Rng;
            rand::rng().fill_bytes(&mut salt);
        }
        let key = kdf.derive_key(password, &salt)?;
        let keystore = Keystore {
            path: path.to_path_buf(),
            kdf,
            salt,
            key,
            secrets,
            next_receive_index: 0,
        };
        // Without --force, publishing fails if a file appeared since the check.
        keystore.save(force).map_err(|e| match e {
            KeystoreError::Write { path, error }
                if error.kind() == std::io::ErrorKind::AlreadyExists =>
            {
                KeystoreError::Exists(path)
            }
            other => other,
        })?;
        Ok(keystore)
    }

    /// Reads and decrypts the keystore at `path`.
    pub fn open(path: &Path, password: &str) -> Result<Keystore, KeystoreError> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(KeystoreError::Missing(path.to_path_buf()));
            }
            Err(error) => {
                return Err(KeystoreError::Read {
                    path: path.to_path_buf(),
                    error,
                });
            }
        };
        let corrupt = |reason: String| KeystoreError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        let file: KeystoreFile = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        if file.version != VERSION {
            return Err(corrupt(format!(
                "unknown version {} (this wallet reads {VERSION})",
                file.version
            )));
        }
        if file.kdf.algorithm != ALGORITHM {
            return Err(corrupt(format!(
                "unknown key derivation {:?}",
                file.kdf.algorithm
            )));
        }
        let kdf = file.kdf.params;
        kdf.check().map_err(|e| corrupt(e.to_string()))?;
        let mut salt = [0u8; SALT_LEN];
        hex::decode_to_slice(&file.salt, &mut salt).map_err(|_| corrupt("bad salt".into()))?;
        let mut nonce = [0u8; NONCE_LEN];
        hex::decode_to_slice(&file.nonce, &mut nonce).map_err(|_| corrupt("bad nonce".into()))?;
        let ciphertext =
            hex::decode(&file.ciphertext).map_err(|_| corrupt("bad ciphertext".into()))?;

        let key = kdf.derive_key(password, &salt)?;
        let aad = associated_data(&kdf, &salt, file.next_receive_index);
        let cipher =
            ChaCha20Poly1305::new_from_slice(key.as_ref()).map_err(|_| KeystoreError::Encrypt)?;
        let plaintext = Zeroizing::new(
            cipher
                .decrypt(
                    &Nonce::from(nonce),
                    Payload {
                        msg: &ciphertext,
                        aad: &aad,
                    },
                )
                .map_err(|_| KeystoreError::Decrypt(path.to_path_buf()))?,
        );
        let secrets =
            decode_secrets(&plaintext).ok_or_else(|| corrupt("bad secret layout".into()))?;
        Ok(Keystore {
            path: path.to_path_buf(),
            kdf,
            salt,
            key,
            secrets,
            next_receive_index: file.next_receive_index,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// The file's key-stretching parameters.
    pub fn kdf(&self) -> KdfParams {
        self.kdf
    }

    /// The receive index `wallet address` shows when no node answers: the
    /// last receive address handed out.
    pub fn next_receive_index(&self) -> u32 {
        self.next_receive_index
    }

    /// Keeps a new receive index and writes the file again.
    pub fn set_next_receive_index(&mut self, index: u32) -> Result<(), KeystoreError> {
        let previous = self.next_receive_index;
        self.next_receive_index = index;
        if let Err(e) = self.save(true) {
            self.next_receive_index = previous;
            return Err(e);
        }
        Ok(())
    }

    /// Seals the secrets with a fresh nonce and writes the file atomically,
    /// over an existing one only when `replace`.
    fn save(&self, replace: bool) -> Result<(), KeystoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        {
            use rand::Rng;
            rand::rng().fill_bytes(&mut nonce);
        }
        let plaintext = encode_secrets(&self.secrets);
        let aad = associated_data(&self.kdf, &self.salt, self.next_receive_index);
        let cipher = ChaCha20Poly1305::new_from_slice(self.key.as_ref())
            .map_err(|_| KeystoreError::Encrypt)?;
        let ciphertext = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| KeystoreError::Encrypt)?;
        let file = KeystoreFile {
            version: VERSION,
            kdf: KdfSection {
                algorithm: ALGORITHM.to_string(),
                params: self.kdf,
            },
            salt: hex::encode(self.salt),
            nonce: hex::encode(nonce),
            ciphertext: hex::encode(ciphertext),
            next_receive_index: self.next_receive_index,
        };
        let mut text = serde_json::to_string_pretty(&file).map_err(|e| KeystoreError::Write {
            path: self.path.clone(),
            error: std::io::Error::other(e),
        })?;
        text.push('\n');
        write_atomically(&self.path, text.as_bytes(), replace).map_err(|error| {
            KeystoreError::Write {
                path: self.path.clone(),
                error,
            }
        })
    }
}

/// What the AEAD authenticates beside the ciphertext: everything in the
/// file that is not secret.
fn associated_data(kdf: &KdfParams, salt: &[u8], next_receive_index: u32) -> Vec<u8> {
    let mut aad = Vec::with_capacity(64);
    aad.extend_from_slice(b"cinder-wallet-keystore\0");
    aad.extend_from_slice(&VERSION.to_le_bytes());
    aad.extend_from_slice(ALGORITHM.as_bytes());
    aad.extend_from_slice(&kdf.memory_kib.to_le_bytes());
    aad.extend_from_slice(&kdf.iterations.to_le_bytes());
    aad.extend_from_slice(&kdf.parallelism.to_le_bytes());
    aad.extend_from_slice(salt);
    aad.extend_from_slice(&next_receive_index.to_le_bytes());
    aad
}

fn encode_secrets(secrets: &Secrets) -> Zeroizing<Vec<u8>> {
    let entropy = secrets.entropy();
    let passphrase = secrets.passphrase().as_bytes();
    let mut out = Zeroizing::new(Vec::with_capacity(1 + entropy.len() + passphrase.len()));
    // BIP-39 entropy is 16 to 32 bytes: its length fits one byte.
    out.push(entropy.len() as u8);
    out.extend_from_slice(entropy);
    out.extend_from_slice(passphrase);
    out
}

fn decode_secrets(plaintext: &[u8]) -> Option<Secrets> {
    let (&len, rest) = plaintext.split_first()?;
    let len = usize::from(len);
    if rest.len() < len {
        return None;
    }
    let entropy = Zeroizing::new(rest[..len].to_vec());
    let passphrase = Zeroizing::new(std::str::from_utf8(&rest[len..]).ok()?.to_string());
    Secrets::from_parts(entropy, passphrase).ok()
}

/// Writes `bytes` to `path` so that a reader sees the old file or the new
/// one, never a part: a temporary file in the same directory (mode 0600),
/// fsync, then published at `path`, then fsync of the directory. With
/// `replace` it is renamed over `path`; without, it is hard-linked there,
/// which fails with `AlreadyExists` when `path` exists (no window between a
/// check and the write), and the temporary name removed. A missing
/// directory is created with mode 0700.
pub fn write_atomically(path: &Path, bytes: &[u8], replace: bool) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    create_private_dir(&dir)?;
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the wallet path names no file"))?
        .to_string_lossy()
        .into_owned();
    let mut suffix = [0u8; 8];
    {
        use rand::Rng;
        rand::rng().fill_bytes(&mut suffix);
    }
    let temp = dir.join(format!(".{name}.{}.tmp", hex::encode(suffix)));
    let result = (|| {
        let mut file = open_private_new(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        if replace {
            fs::rename(&temp, path)?;
        } else {
            publish_new(&temp, path)?;
        }
        // The new name is durable once the directory is synced.
        if let Ok(d) = fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    // After a rename there is nothing left to remove; after a link or an
    // error, the temporary name goes (best effort: the file is published).
    if !replace || result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Publishes `temp` at `path` unless `path` exists: `link(2)` refuses an
/// existing target atomically. On a file system without hard links
/// (`Unsupported`, or `PermissionDenied` as vfat answers) it falls back to
/// a check and a rename.
fn publish_new(temp: &Path, path: &Path) -> std::io::Result<()> {
    match fs::hard_link(temp, path) {
        Ok(()) => Ok(()),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::Unsupported | std::io::ErrorKind::PermissionDenied
            ) =>
        {
            if fs::symlink_metadata(path).is_ok() {
                return Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists));
            }
            fs::rename(temp, path)
        }
        Err(e) => Err(e),
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)
}

#[cfg(unix)]
fn open_private_new(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private_new(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyPath, KeySource};

    const MNEMONIC: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

    fn secrets(passphrase: &str) -> Secrets {
        Secrets::from_mnemonic(MNEMONIC, Zeroizing::new(passphrase.to_string())).unwrap()
    }

    fn fast() -> KdfParams {
        KdfParams::insecure_for_tests()
    }

    #[test]
    fn round_trip_keeps_secrets_and_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w").join("wallet.json");
        let mut created = Keystore::create(&path, secrets("pp"), "hunter2", fast(), false).unwrap();
        created.set_next_receive_index(7).unwrap();

        let opened = Keystore::open(&path, "hunter2").unwrap();
        assert_eq!(opened.next_receive_index(), 7);
        assert_eq!(opened.secrets().passphrase(), "pp");
        assert_eq!(opened.secrets().mnemonic().unwrap().as_str(), MNEMONIC);
        let a = opened
            .secrets()
            .keys()
            .unwrap()
            .address(KeyPath::receive(0))
            .unwrap();
        let b = secrets("pp")
            .keys()
            .unwrap()
            .address(KeyPath::receive(0))
            .unwrap();
        assert_eq!(a, b);

        // Only the encrypted secrets and the index: no mnemonic word, no address.
        let text = fs::read_to_string(&path).unwrap();
        assert!(!text.contains("abandon"));
        assert!(!text.contains(&a.to_string()[2..]));
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "ciphertext",
                "kdf",
                "next_receive_index",
                "nonce",
                "salt",
                "version"
            ]
        );
        assert_eq!(json["kdf"]["algorithm"], "argon2id");
        // No temporary file left behind.
        assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
    }

    #[test]
    fn wrong_password_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wallet.json");
        Keystore::create(&path, secrets(""), "right", fast(), false).unwrap();
        let err = Keystore::open(&path, "wrong").unwrap_err();
        assert!(matches!(err, KeystoreError::Decrypt(_)));
        assert!(err.to_string().contains("wrong password"), "{err}");
    }

    #[test]
    fn tampered_files_do_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wallet.json");
        Keystore::create(&path, secrets(""), "pw", fast(), false).unwrap();
        let original: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();

        let flip_hex = |text: &str| -> String {
            let mut bytes = hex::decode(text).unwrap();
            bytes[0] ^= 1;
            hex::encode(bytes)
        };
        let mut cases = Vec::new();
        let mut v = original.clone();
        v["ciphertext"] = flip_hex(v["ciphertext"].as_str().unwrap()).into();
        cases.push((v, true));
        let mut v = original.clone();
        v["nonce"] = flip_hex(v["nonce"].as_str().unwrap()).into();
        cases.push((v, true));
        let mut v = original.clone();
        v["salt"] = flip_hex(v["salt"].as_str().unwrap()).into();
        cases.push((v, true));
        let mut v = original.clone();
        v["next_receive_index"] = 5.into();
        cases.push((v, true));
        let mut v = original.clone();
        v["kdf"]["iterations"] = 2.into();
        cases.push((v, true));
        let mut v = original.clone();
        v["ciphertext"] = "zz".into();
        cases.push((v, false));
        let mut v = original.clone();
        v["extra"] = 1.into();
        cases.push((v, false));
        let mut v = original.clone();
        v["kdf"]["memory_kib"] = u32::MAX.into();
        cases.push((v, false));

        for (i, (value, authenticated)) in cases.into_iter().enumerate() {
            fs::write(&path, value.to_string()).unwrap();
            let err = Keystore::open(&path, "pw").unwrap_err();
            if authenticated {
                assert!(matches!(err, KeystoreError::Decrypt(_)), "case {i}: {err}");
            } else {
                assert!(
                    matches!(err, KeystoreError::Corrupt { .. }),
                    "case {i}: {err}"
                );
            }
        }
        fs::write(&path, "{ not json").unwrap();
        assert!(matches!(
            Keystore::open(&path, "pw"),
            Err(KeystoreError::Corrupt { .. })
        ));
        fs::write(&path, original.to_string()).unwrap();
        assert!(Keystore::open(&path, "pw").is_ok());
    }

    #[test]
    fn refuses_overwrite_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wallet.json");
        Keystore::create(&path, secrets("first"), "pw", fast(), false).unwrap();
        let before = fs::read(&path).unwrap();
        let err = Keystore::create(&path, secrets("second"), "pw", fast(), false).unwrap_err();
        assert!(matches!(err, KeystoreError::Exists(_)));
        assert!(err.to_string().contains("--force"));
        assert_eq!(fs::read(&path).unwrap(), before);
        assert!(check_can_create(&path, false).is_err());
        assert!(check_can_create(&path, true).is_ok());

        Keystore::create(&path, secrets("second"), "pw2", fast(), true).unwrap();
        assert_eq!(
            Keystore::open(&path, "pw2").unwrap().secrets().passphrase(),
            "second"
        );
    }

    #[test]
    fn missing_file_says_how_to_create_one() {
        let dir = tempfile::tempdir().unwrap();
        let err = Keystore::open(&dir.path().join("none.json"), "pw").unwrap_err();
        assert!(matches!(err, KeystoreError::Missing(_)));
        assert!(err.to_string().contains("wallet new"));
    }

    #[cfg(unix)]
    #[test]
    fn file_is_0600_and_new_directory_0700() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fresh").join("wallet.json");
        let mut ks = Keystore::create(&path, secrets(""), "pw", fast(), false).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        ks.set_next_receive_index(1).unwrap();
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn kdf_parameters_are_checked() {
        let bad = KdfParams {
            memory_kib: 1,
            iterations: 1,
            parallelism: 1,
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wallet.json");
        assert!(matches!(
            Keystore::create(&path, secrets(""), "pw", bad, false),
            Err(KeystoreError::Kdf(_))
        ));
        assert!(!path.exists());
        assert!(KdfParams::default().check().is_ok());
    }

    #[test]
    fn publishing_a_new_file_never_replaces_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wallet.json");
        // Another process wrote the file after `check_can_create` passed.
        fs::write(&path, "theirs").unwrap();
        let err = write_atomically(&path, b"ours", false).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&path).unwrap(), b"theirs");
        // No temporary file left behind, in either case.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        write_atomically(&path, b"ours", true).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"ours");
        let fresh = dir.path().join("fresh.json");
        write_atomically(&fresh, b"new", false).unwrap();
        assert_eq!(fs::read(&fresh).unwrap(), b"new");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn weak_parameters_are_recognised() {
        assert!(!KdfParams::default().is_weak());
        assert!(fast().is_weak());
        let fewer_passes = KdfParams {
            iterations: 2,
            ..KdfParams::default()
        };
        assert!(fewer_passes.is_weak());
        let more_memory = KdfParams {
            memory_kib: 2 * KdfParams::default().memory_kib,
            ..KdfParams::default()
        };
        assert!(!more_memory.is_weak());
    }
}
