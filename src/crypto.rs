//! Keys, addresses and signatures (PROTOCOL.md §3), and the BIP-39/BIP-32
//! derivation wallets use. No I/O.

use k256::ecdsa::{RecoveryId, Signature as EcdsaSignature, SigningKey, VerifyingKey};
use ripemd::Ripemd160;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::types::{Address, Hash, Signature};

/// Receive keys are `m/44'/1'/0'/0/i`, change keys `m/44'/1'/0'/1/i`.
pub const ACCOUNT_PATH: &str = "m/44'/1'/0'";

/// Which of the account's two chains a key is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyChain {
    Receive = 0,
    Change = 1,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("invalid secret key")]
    InvalidSecret,
    #[error("invalid mnemonic: {0}")]
    Mnemonic(String),
    #[error("key derivation failed: {0}")]
    Derivation(String),
}

/// A secret key with the address it controls.
#[derive(Clone)]
pub struct SecretKey {
    key: SigningKey,
}

impl SecretKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<SecretKey, KeyError> {
        SigningKey::from_slice(bytes)
            .map(|key| SecretKey { key })
            .map_err(|_| KeyError::InvalidSecret)
    }

    /// The secret scalar, big-endian; wrapped so it is wiped when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.key.to_bytes().into())
    }

    /// SEC1 compressed public key (33 bytes).
    pub fn public_key(&self) -> [u8; 33] {
        compressed_public_key(self.key.verifying_key())
    }

    pub fn address(&self) -> Address {
        address_of_public_key(&self.public_key())
    }

    /// Signs a 32-byte sighash: RFC 6979, low-S, recovery id as `v`.
    pub fn sign(&self, sighash: &Hash) -> Signature {
        let (sig, recid) = self.key.sign_prehash_recoverable(&sighash.0);
        // sign_prehash_recoverable already yields low-S with the matching id.
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&sig.to_bytes());
        out[64] = recid.to_byte();
        Signature(out)
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.address())
    }
}

fn compressed_public_key(key: &VerifyingKey) -> [u8; 33] {
    let point = key.to_sec1_point(true);
    let mut out = [0u8; 33];
    out.copy_from_slice(point.as_bytes());
    out
}

/// `RIPEMD-160(SHA-256(compressed public key))`.
pub fn address_of_public_key(public_key: &[u8; 33]) -> Address {
    let sha = Sha256::digest(public_key);
    Address(Ripemd160::digest(sha).into())
}

/// Recovers the address that signed `sighash`, or `None` when the signature
/// is not a valid low-S signature with `v` ∈ {0, 1} (PROTOCOL.md §3).
pub fn recover_address(sighash: &Hash, signature: &Signature) -> Option<Address> {
    let v = signature.0[64];
    if v > 1 {
        return None;
    }
    let sig = EcdsaSignature::from_slice(&signature.0[..64]).ok()?;
    // recover_from_prehash accepts high-S: the protocol does not.
    if sig.normalize_s() != sig {
        return None;
    }
    let recid = RecoveryId::from_byte(v)?;
    let key = VerifyingKey::recover_from_prehash(&sighash.0, &sig, recid).ok()?;
    Some(address_of_public_key(&compressed_public_key(&key)))
}

/// True when `signature` over `sighash` was made by the key of `address`.
pub fn verify(sighash: &Hash, signature: &Signature, address: &Address) -> bool {
    recover_address(sighash, signature).as_ref() == Some(address)
}

/// BIP-39: the 64-byte seed of an English mnemonic and optional passphrase.
pub fn mnemonic_to_seed(mnemonic: &str, passphrase: &str) -> Result<Zeroizing<[u8; 64]>, KeyError> {
    let m = bip39::Mnemonic::parse(mnemonic).map_err(|e| KeyError::Mnemonic(e.to_string()))?;
    Ok(Zeroizing::new(m.to_seed(passphrase)))
}

/// The English mnemonic of `entropy` (16 bytes: 12 words, 32 bytes: 24).
pub fn mnemonic_from_entropy(entropy: &[u8]) -> Result<Zeroizing<String>, KeyError> {
    let m =
        bip39::Mnemonic::from_entropy(entropy).map_err(|e| KeyError::Mnemonic(e.to_string()))?;
    Ok(Zeroizing::new(m.to_string()))
}

/// The entropy of an English mnemonic (checks its checksum).
pub fn mnemonic_to_entropy(mnemonic: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let m = bip39::Mnemonic::parse(mnemonic).map_err(|e| KeyError::Mnemonic(e.to_string()))?;
    Ok(Zeroizing::new(m.to_entropy()))
}

/// BIP-32: the private key and chain code at `path` (e.g. `m/0'/1`) of `seed`.
pub fn derive_path(seed: &[u8], path: &str) -> Result<(SecretKey, [u8; 32]), KeyError> {
    let path: bip32::DerivationPath = path
        .parse()
        .map_err(|e: bip32::Error| KeyError::Derivation(e.to_string()))?;
    let xprv = bip32::XPrv::derive_from_path(seed, &path)
        .map_err(|e| KeyError::Derivation(e.to_string()))?;
    let key = SecretKey {
        key: xprv.private_key().clone(),
    };
    Ok((key, xprv.attrs().chain_code))
}

/// The wallet account `m/44'/1'/0'`, from which receive and change keys are
/// derived without walking the hardened path again.
pub struct HdAccount {
    xprv: bip32::XPrv,
}

impl HdAccount {
    pub fn from_seed(seed: &[u8]) -> Result<HdAccount, KeyError> {
        let path: bip32::DerivationPath = ACCOUNT_PATH
            .parse()
            .map_err(|e: bip32::Error| KeyError::Derivation(e.to_string()))?;
        let xprv = bip32::XPrv::derive_from_path(seed, &path)
            .map_err(|e| KeyError::Derivation(e.to_string()))?;
        Ok(HdAccount { xprv })
    }

    /// The key at `m/44'/1'/0'/chain/index`.
    pub fn key(&self, chain: KeyChain, index: u32) -> Result<SecretKey, KeyError> {
        let derive = |parent: &bip32::XPrv, n: u32| {
            let child = bip32::ChildNumber::new(n, false)
                .map_err(|e| KeyError::Derivation(e.to_string()))?;
            parent
                .derive_child(child)
                .map_err(|e| KeyError::Derivation(e.to_string()))
        };
        let chain_key = derive(&self.xprv, chain as u32)?;
        let key = derive(&chain_key, index)?;
        Ok(SecretKey {
            key: key.private_key().clone(),
        })
    }

    /// The path string of a key, as wallets show it.
    pub fn path(chain: KeyChain, index: u32) -> String {
        format!("{ACCOUNT_PATH}/{}/{index}", chain as u32)
    }
}
