//! The wallet's secrets (mnemonic entropy and BIP-39 passphrase) and the
//! keys derived from them (PROTOCOL.md §3): receive keys `m/44'/1'/0'/0/i`,
//! change keys `m/44'/1'/0'/1/i`. Derivation is cinder's; no I/O here.

use cinder::crypto::{self, HdAccount, KeyChain, SecretKey};
use cinder::types::Address;
use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("{0}")]
    Mnemonic(String),
    #[error("key derivation failed: {0}")]
    Derivation(String),
}

/// Mnemonic lengths `wallet new` offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WordCount {
    Twelve,
    TwentyFour,
}

impl WordCount {
    /// Bytes of entropy behind the mnemonic (BIP-39: 16 for 12 words, 32 for 24).
    pub fn entropy_len(self) -> usize {
        match self {
            WordCount::Twelve => 16,
            WordCount::TwentyFour => 32,
        }
    }
}

/// What the keystore protects: the mnemonic's entropy and the optional
/// BIP-39 passphrase. Both are wiped from memory when dropped.
pub struct Secrets {
    entropy: Zeroizing<Vec<u8>>,
    passphrase: Zeroizing<String>,
}

impl Secrets {
    /// Fresh entropy from the operating system's CSPRNG (through rand's
    /// thread generator, a reseeded ChaCha CSPRNG).
    pub fn generate(words: WordCount, passphrase: Zeroizing<String>) -> Secrets {
        use rand::Rng;
        let mut entropy = Zeroizing::new(vec![0u8; words.entropy_len()]);
        rand::rng().fill_bytes(&mut entropy);
        Secrets {
            entropy,
            passphrase,
        }
    }

    /// Secrets of a typed mnemonic: words separated by any whitespace,
    /// any case; the BIP-39 checksum is checked.
    pub fn from_mnemonic(
        mnemonic: &str,
        passphrase: Zeroizing<String>,
    ) -> Result<Secrets, KeysError> {
        // Built in place so no unwiped copy of the words is left behind.
        let mut normalized = Zeroizing::new(String::with_capacity(mnemonic.len() * 2));
        for (i, word) in mnemonic.split_whitespace().enumerate() {
            if !normalized.is_empty() {
                normalized.push(' ');
            }
            let start = normalized.len();
            for c in word.chars() {
                normalized.extend(c.to_lowercase());
            }
            // Checked here because bip39's own error counts words from 0;
            // `wallet new` numbers them from 1. The word itself is not
            // repeated: it is part of a secret.
            if bip39::Language::English
                .find_word(&normalized[start..])
                .is_none()
            {
                return Err(KeysError::Mnemonic(format!(
                    "word {} of the mnemonic is not in the BIP-39 English word list",
                    i + 1
                )));
            }
        }
        if normalized.is_empty() {
            return Err(KeysError::Mnemonic("the mnemonic is empty".into()));
        }
        let entropy = crypto::mnemonic_to_entropy(&normalized)
            .map_err(|e| KeysError::Mnemonic(e.to_string()))?;
        Ok(Secrets {
            entropy,
            passphrase,
        })
    }

    /// Secrets from stored parts (the keystore's plaintext).
    pub fn from_parts(
        entropy: Zeroizing<Vec<u8>>,
        passphrase: Zeroizing<String>,
    ) -> Result<Secrets, KeysError> {
        // Checks the entropy length is one BIP-39 accepts.
        crypto::mnemonic_from_entropy(&entropy).map_err(|e| KeysError::Mnemonic(e.to_string()))?;
        Ok(Secrets {
            entropy,
            passphrase,
        })
    }

    pub fn entropy(&self) -> &[u8] {
        &self.entropy
    }

    pub fn passphrase(&self) -> &str {
        &self.passphrase
    }

    /// The English mnemonic: shown once by `wallet new`, never stored.
    pub fn mnemonic(&self) -> Result<Zeroizing<String>, KeysError> {
        crypto::mnemonic_from_entropy(&self.entropy).map_err(|e| KeysError::Mnemonic(e.to_string()))
    }

    /// The account keys (BIP-39 seed → BIP-32 `m/44'/1'/0'`).
    pub fn keys(&self) -> Result<WalletKeys, KeysError> {
        let mnemonic = self.mnemonic()?;
        let seed = crypto::mnemonic_to_seed(&mnemonic, &self.passphrase)
            .map_err(|e| KeysError::Mnemonic(e.to_string()))?;
        let account = HdAccount::from_seed(seed.as_ref())
            .map_err(|e| KeysError::Derivation(e.to_string()))?;
        Ok(WalletKeys { account })
    }
}

/// Where a wallet key sits in the account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyPath {
    pub chain: KeyChain,
    pub index: u32,
}

impl KeyPath {
    pub fn receive(index: u32) -> KeyPath {
        KeyPath {
            chain: KeyChain::Receive,
            index,
        }
    }

    pub fn change(index: u32) -> KeyPath {
        KeyPath {
            chain: KeyChain::Change,
            index,
        }
    }
}

impl std::fmt::Display for KeyPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&HdAccount::path(self.chain, self.index))
    }
}

/// Gives the address of a key path, and signs with it. Discovery and send
/// take this trait so tests can run them on any key source.
pub trait KeySource {
    fn address(&self, path: KeyPath) -> Result<Address, KeysError>;
    fn secret_key(&self, path: KeyPath) -> Result<SecretKey, KeysError>;
}

/// The account `m/44'/1'/0'` of the wallet's seed.
pub struct WalletKeys {
    account: HdAccount,
}

impl KeySource for WalletKeys {
    fn address(&self, path: KeyPath) -> Result<Address, KeysError> {
        Ok(self.secret_key(path)?.address())
    }

    fn secret_key(&self, path: KeyPath) -> Result<SecretKey, KeysError> {
        self.account
            .key(path.chain, path.index)
            .map_err(|e| KeysError::Derivation(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Vectors {
        mnemonic: String,
        passphrase: String,
        keys: Vec<KeyVector>,
    }

    #[derive(Deserialize)]
    struct KeyVector {
        path: String,
        private_key: String,
        public_key: String,
        address: String,
        display_address: String,
    }

    fn path_of(text: &str) -> KeyPath {
        let rest = text.strip_prefix("m/44'/1'/0'/").unwrap();
        let (chain, index) = rest.split_once('/').unwrap();
        let index = index.parse().unwrap();
        match chain {
            "0" => KeyPath::receive(index),
            "1" => KeyPath::change(index),
            other => panic!("unexpected chain {other}"),
        }
    }

    /// docs/vectors/keys.json through the wallet's own path: typed mnemonic →
    /// stored entropy → keys, addresses and their checksummed display.
    #[test]
    fn keys_vectors() {
        let vectors: Vectors =
            serde_json::from_str(include_str!("../../docs/vectors/keys.json")).unwrap();
        // Typed with odd spacing and case, as a user might.
        let typed = format!(
            "  {}\n",
            vectors.mnemonic.to_uppercase().replace(' ', "   ")
        );
        let secrets =
            Secrets::from_mnemonic(&typed, Zeroizing::new(vectors.passphrase.clone())).unwrap();
        assert_eq!(secrets.mnemonic().unwrap().as_str(), vectors.mnemonic);
        // As the keystore keeps them.
        let stored = Secrets::from_parts(
            Zeroizing::new(secrets.entropy().to_vec()),
            Zeroizing::new(secrets.passphrase().to_string()),
        )
        .unwrap();
        let keys = stored.keys().unwrap();
        assert!(!vectors.keys.is_empty());
        for v in &vectors.keys {
            let path = path_of(&v.path);
            assert_eq!(path.to_string(), v.path);
            let key = keys.secret_key(path).unwrap();
            assert_eq!(
                hex::encode(key.to_bytes().as_ref()),
                v.private_key,
                "{}",
                v.path
            );
            assert_eq!(hex::encode(key.public_key()), v.public_key, "{}", v.path);
            let address = keys.address(path).unwrap();
            assert_eq!(address.to_string(), v.address, "{}", v.path);
            assert_eq!(address.to_checksummed(), v.display_address, "{}", v.path);
        }
    }

    #[test]
    fn bad_mnemonics_are_refused() {
        let none = || Zeroizing::new(String::new());
        assert!(Secrets::from_mnemonic("", none()).is_err());
        assert!(Secrets::from_mnemonic("abandon abandon abandon", none()).is_err());
        // Wrong checksum word.
        let bad = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon";
        assert!(Secrets::from_mnemonic(bad, none()).is_err());
    }

    #[test]
    fn an_unknown_word_is_numbered_from_one_like_wallet_new_shows_them() {
        let none = || Zeroizing::new(String::new());
        let mut words: Vec<&str> = crate::fake_node::MNEMONIC.split(' ').collect();
        for (position, typo) in [(1, "abandom"), (12, "abuot")] {
            let original = words[position - 1];
            words[position - 1] = typo;
            let err = Secrets::from_mnemonic(&words.join(" "), none())
                .err()
                .expect("a word not in the list is refused")
                .to_string();
            assert_eq!(
                err,
                format!("word {position} of the mnemonic is not in the BIP-39 English word list")
            );
            assert!(!err.contains(typo), "{err}");
            words[position - 1] = original;
        }
        assert!(Secrets::from_mnemonic(&words.join(" "), none()).is_ok());
    }

    #[test]
    fn generated_mnemonics_have_the_asked_length_and_a_passphrase_changes_keys() {
        let twelve = Secrets::generate(WordCount::Twelve, Zeroizing::new(String::new()));
        assert_eq!(twelve.mnemonic().unwrap().split(' ').count(), 12);
        let twenty_four = Secrets::generate(WordCount::TwentyFour, Zeroizing::new(String::new()));
        assert_eq!(twenty_four.mnemonic().unwrap().split(' ').count(), 24);

        let mnemonic = twelve.mnemonic().unwrap();
        let with = Secrets::from_mnemonic(&mnemonic, Zeroizing::new("extra".into())).unwrap();
        let a = twelve.keys().unwrap().address(KeyPath::receive(0)).unwrap();
        let b = with.keys().unwrap().address(KeyPath::receive(0)).unwrap();
        assert_ne!(a, b);
    }
}
