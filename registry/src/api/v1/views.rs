//! JSON views shared by the API families, in Quay's field names.

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::db::models::Account;

/// Quay's avatar object.
pub fn avatar(name: &str, kind: &str) -> Value {
    let hash = hex::encode(Sha256::digest(name.as_bytes()));
    let color = format!("#{}", &hash[..6]);
    json!({"name": name, "hash": hash, "color": color, "kind": kind})
}

/// The reduced view anyone may see of a user.
pub fn public_user(a: &Account, superuser: bool) -> Value {
    let mut v = json!({
        "anonymous": false,
        "username": a.username,
        "avatar": avatar(&a.username, "user"),
    });
    if superuser {
        v["super_user"] = json!(true);
    }
    v
}

/// The view of a user as a superuser sees it in lists.
pub fn managed_user(a: &Account, superuser: bool) -> Value {
    json!({
        "kind": "user",
        "name": a.username,
        "username": a.username,
        "email": a.email,
        "verified": a.verified,
        "avatar": avatar(&a.username, "user"),
        "super_user": superuser,
        "enabled": a.enabled,
    })
}
