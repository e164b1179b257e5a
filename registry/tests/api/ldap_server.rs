//! The directory the directory tests sign in against: e2e's real OpenLDAP
//! (`e2e::ldap`, its own `slapd` on a free 127.0.0.1 port, killed on drop),
//! seeded with the people and groups below. A machine without `slapd`
//! fails the test: CI installs it (`e2e/run`, Debian's `slapd ldap-utils`).

pub use e2e::ldap::{group_dn, Directory as LdapServer, Group, Person};

/// The tree every test starts with: alice and bob (staff, group `devs`),
/// carol (staff, group `admins`, the superuser filter's group) and eve (a
/// contractor, outside the user filter).
pub const PEOPLE: [Person<'static>; 4] = [
    staff("alice", "alice@corp.example", "alice-pass"),
    staff("bob", "bob@corp.example", "bob-pass"),
    staff("carol", "carol@corp.example", "carol-pass"),
    Person {
        uid: "eve",
        mail: "eve@corp.example",
        password: "eve-pass",
        employee_type: Some("contractor"),
    },
];

/// A person the tests' `LDAP_USER_FILTER` lets in.
pub const fn staff(uid: &'static str, mail: &'static str, password: &'static str) -> Person<'static> {
    Person {
        uid,
        mail,
        password,
        employee_type: Some("staff"),
    }
}

/// Starts slapd with [`PEOPLE`] and the groups `devs` (alice, bob) and
/// `admins` (carol).
pub fn start() -> LdapServer {
    LdapServer::start(
        &PEOPLE,
        &[
            Group {
                cn: "devs",
                members: &["alice", "bob"],
            },
            Group {
                cn: "admins",
                members: &["carol"],
            },
        ],
    )
}

/// The registry config keys that point at the directory, with the tests'
/// user and superuser filters; `extra` keys are appended.
pub fn config(ldap: &LdapServer, extra: &str) -> String {
    ldap.registry_config(&format!(
        "LDAP_USER_FILTER: (employeeType=staff)\nLDAP_SUPERUSER_FILTER: (memberOf={})\n{extra}",
        group_dn("admins")
    ))
}
