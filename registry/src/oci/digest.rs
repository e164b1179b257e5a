use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256, Sha512};

/// Hash algorithms accepted in digests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// A validated content digest such as `sha256:<64 lowercase hex>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestError {
    #[error("unsupported digest algorithm")]
    UnsupportedAlgorithm,
    #[error("invalid digest format")]
    Format,
}

impl Digest {
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The sha256 digest of `data`.
    pub fn sha256_of(data: &[u8]) -> Digest {
        Digest {
            algorithm: Algorithm::Sha256,
            hex: hex::encode(Sha256::digest(data)),
        }
    }

    /// The digest of `data` with the given algorithm.
    pub fn of(algorithm: Algorithm, data: &[u8]) -> Digest {
        let mut h = Hasher::new(algorithm);
        h.update(data);
        h.finish()
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.hex)
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (alg, hex) = s.split_once(':').ok_or(DigestError::Format)?;
        let algorithm = match alg {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            a if !a.is_empty()
                && a.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b)) =>
            {
                return Err(DigestError::UnsupportedAlgorithm)
            }
            _ => return Err(DigestError::Format),
        };
        let valid_hex =
            hex.len() == algorithm.hex_len() && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !valid_hex {
            return Err(DigestError::Format);
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_owned(),
        })
    }
}

/// A streaming hasher whose state can be saved between requests, so an upload
/// can continue in another process.
#[derive(Clone)]
pub enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    pub fn new(algorithm: Algorithm) -> Hasher {
        match algorithm {
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        match self {
            Hasher::Sha256(_) => Algorithm::Sha256,
            Hasher::Sha512(_) => Algorithm::Sha512,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    pub fn finish(self) -> Digest {
        let algorithm = self.algorithm();
        let hex = match self {
            Hasher::Sha256(h) => hex::encode(h.finalize()),
            Hasher::Sha512(h) => hex::encode(h.finalize()),
        };
        Digest { algorithm, hex }
    }

    /// Serialized state: one algorithm byte, then the hasher's own state.
    pub fn save(&self) -> Vec<u8> {
        use sha2::digest::common::hazmat::SerializableState;
        match self {
            Hasher::Sha256(h) => [&[1u8][..], h.serialize().as_slice()].concat(),
            Hasher::Sha512(h) => [&[2u8][..], h.serialize().as_slice()].concat(),
        }
    }

    /// Restores a state written by [`Hasher::save`]; `None` when it is not one.
    pub fn restore(state: &[u8]) -> Option<Hasher> {
        use sha2::digest::common::hazmat::SerializableState;
        let (kind, rest) = state.split_first()?;
        match kind {
            1 => Sha256::deserialize(rest.try_into().ok()?).ok().map(Hasher::Sha256),
            2 => Sha512::deserialize(rest.try_into().ok()?).ok().map(Hasher::Sha512),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_parses_and_prints_back() {
        let s = format!("sha256:{}", "a".repeat(64));
        assert_eq!(s.parse::<Digest>().map(|d| d.to_string()), Ok(s));
    }

    #[test]
    fn digest_rejects_bad_hex_and_length() {
        assert_eq!("sha256:totallywrong".parse::<Digest>(), Err(DigestError::Format));
        assert_eq!(
            format!("sha256:{}", "A".repeat(64)).parse::<Digest>(),
            Err(DigestError::Format)
        );
        assert_eq!("md5:abcd".parse::<Digest>(), Err(DigestError::UnsupportedAlgorithm));
        assert_eq!("nocolon".parse::<Digest>(), Err(DigestError::Format));
    }

    #[test]
    fn saved_hasher_state_continues_where_it_stopped() {
        let mut h = Hasher::new(Algorithm::Sha256);
        h.update(b"hello ");
        let mut restored = Hasher::restore(&h.save()).expect("state restores");
        restored.update(b"world");
        assert_eq!(restored.finish(), Digest::sha256_of(b"hello world"));
        let mut h = Hasher::new(Algorithm::Sha512);
        h.update(b"abc");
        let restored = Hasher::restore(&h.save()).expect("state restores");
        assert_eq!(restored.finish(), Digest::of(Algorithm::Sha512, b"abc"));
    }
}
