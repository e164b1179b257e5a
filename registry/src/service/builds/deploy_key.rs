//! The SSH key pair of a build trigger: the public half is the deploy key
//! the git server is given, the private half what a builder clones with.

use ssh_key::private::{Ed25519Keypair, PrivateKey};
use ssh_key::LineEnding;

use super::Error;

/// An ed25519 key pair: the public key as an `authorized_keys` line and the
/// private key in OpenSSH's PEM format.
pub(super) fn ssh_key_pair() -> Result<(String, String), Error> {
    let seed: [u8; 32] = rand::random();
    let key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    let failed = |e: ssh_key::Error| Error::InvalidRequest(format!("Could not make an SSH key: {e}"));
    let public = key.public_key().to_openssh().map_err(failed)?;
    let private = key.to_openssh(LineEnding::LF).map_err(failed)?;
    Ok((public, private.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_pairs_are_fresh_openssh_ed25519_keys_whose_halves_match() {
        let (public, private) = ssh_key_pair().expect("key pair");
        assert!(public.starts_with("ssh-ed25519 AAAA"), "{public}");
        let parsed = PrivateKey::from_openssh(&private).expect("OpenSSH private key");
        assert_eq!(parsed.public_key().to_openssh().expect("public key"), public);
        assert!(!parsed.is_encrypted());
        let (other, _) = ssh_key_pair().expect("second key pair");
        assert_ne!(other, public);
    }
}
