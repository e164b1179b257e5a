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

pub use crate::format_date;

/// The UTC day of a time, `YYYY-MM-DD`.
pub fn format_day(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc_2822_in_utc() {
        assert_eq!(format_date(0), "Thu, 01 Jan 1970 00:00:00 -0000");
        assert_eq!(format_date(1_033_563_600_000), "Wed, 02 Oct 2002 13:00:00 -0000");
        assert_eq!(format_date(1_709_210_096_000), "Thu, 29 Feb 2024 12:34:56 -0000");
        assert_eq!(format_day(951_782_400_000), "2000-02-29");
    }
}
