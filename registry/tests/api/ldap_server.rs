//! A real OpenLDAP directory for the directory tests: its own `slapd` in a
//! temp dir on a free 127.0.0.1 port (mdb backend, a root DN, the memberof
//! overlay so users carry `memberOf` as Active Directory's do), seeded with
//! `ou=users` (inetOrgPerson entries) and `ou=groups` (groupOfNames).
//! Killed on drop. A machine without `slapd` fails the test: CI installs it
//! (`e2e/run`, Debian's `slapd`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ldap3::{Ldap, LdapConnAsync, Mod};

pub const BASE_DN: &str = "dc=example,dc=org";
pub const ADMIN_DN: &str = "cn=admin,dc=example,dc=org";
pub const ADMIN_PASSWORD: &str = "admin-secret";
/// How long slapd may take to answer after it starts.
const START_LIMIT: Duration = Duration::from_secs(30);

/// A seeded user: uid, email, password, employeeType (`staff` passes the
/// tests' `LDAP_USER_FILTER`).
pub struct Person<'a> {
    pub uid: &'a str,
    pub email: Option<&'a str>,
    pub password: &'a str,
    pub kind: &'a str,
}

/// The tree every test starts with: alice and bob (staff, group `devs`),
/// carol (staff, group `admins`, the superuser filter's group) and eve (a
/// contractor, outside the user filter).
pub const PEOPLE: [Person<'static>; 4] = [
    Person {
        uid: "alice",
        email: Some("alice@corp.example"),
        password: "alice-pass",
        kind: "staff",
    },
    Person {
        uid: "bob",
        email: Some("bob@corp.example"),
        password: "bob-pass",
        kind: "staff",
    },
    Person {
        uid: "carol",
        email: Some("carol@corp.example"),
        password: "carol-pass",
        kind: "staff",
    },
    Person {
        uid: "eve",
        email: Some("eve@corp.example"),
        password: "eve-pass",
        kind: "contractor",
    },
];

pub fn user_dn(uid: &str) -> String {
    format!("uid={uid},ou=users,{BASE_DN}")
}

pub fn group_dn(cn: &str) -> String {
    format!("cn={cn},ou=groups,{BASE_DN}")
}

pub struct LdapServer {
    pub uri: String,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

fn slapd_binary() -> PathBuf {
    let candidates = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")]);
    for dir in candidates {
        let path = dir.join("slapd");
        if path.is_file() {
            return path;
        }
    }
    panic!("slapd is not installed: the directory tests need OpenLDAP's server (Debian: apt-get install slapd ldap-utils; e2e/run installs it)");
}

/// The OpenLDAP module folder of this machine (Debian's, else a local build's).
fn module_dir() -> &'static str {
    [
        "/usr/lib/ldap",
        "/usr/lib/x86_64-linux-gnu/ldap",
        "/usr/local/libexec/openldap",
    ]
    .into_iter()
    .find(|d| Path::new(d).join("back_mdb.la").exists() || Path::new(d).join("back_mdb.so").exists())
    .unwrap_or("/usr/lib/ldap")
}

fn schema_dir() -> &'static str {
    [
        "/etc/ldap/schema",
        "/etc/openldap/schema",
        "/usr/local/etc/openldap/schema",
    ]
    .into_iter()
    .find(|d| Path::new(d).join("core.schema").exists())
    .unwrap_or("/etc/ldap/schema")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn slapd_conf(dir: &Path) -> String {
    let schema = schema_dir();
    format!(
        "include {schema}/core.schema\n\
         include {schema}/cosine.schema\n\
         include {schema}/inetorgperson.schema\n\
         include {schema}/nis.schema\n\
         modulepath {modules}\n\
         moduleload back_mdb\n\
         moduleload memberof\n\
         pidfile {dir}/slapd.pid\n\
         database mdb\n\
         maxsize 67108864\n\
         suffix \"{BASE_DN}\"\n\
         rootdn \"{ADMIN_DN}\"\n\
         rootpw {ADMIN_PASSWORD}\n\
         directory {dir}/data\n\
         overlay memberof\n\
         memberof-refint TRUE\n",
        modules = module_dir(),
        dir = dir.display(),
    )
}

async fn admin_connection(uri: &str) -> Result<Ldap, ldap3::LdapError> {
    let (conn, mut ldap) = LdapConnAsync::new(uri).await?;
    ldap3::drive!(conn);
    ldap.simple_bind(ADMIN_DN, ADMIN_PASSWORD).await?.success()?;
    Ok(ldap)
}

/// An entry's attributes as ldap3 adds them.
type Attrs = Vec<(String, HashSet<String>)>;

fn set(values: &[&str]) -> HashSet<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

impl LdapServer {
    /// Starts slapd and seeds [`PEOPLE`] and the groups `devs` (alice,
    /// bob) and `admins` (carol).
    pub async fn start() -> LdapServer {
        let slapd = slapd_binary();
        let dir = tempfile::tempdir().expect("temp dir for slapd");
        std::fs::create_dir_all(dir.path().join("data")).expect("slapd data folder");
        let conf = dir.path().join("slapd.conf");
        std::fs::write(&conf, slapd_conf(dir.path())).expect("write slapd.conf");
        let log = dir.path().join("slapd.log");
        let port = free_port();
        let uri = format!("ldap://127.0.0.1:{port}");
        let child = Command::new(&slapd)
            .arg("-f")
            .arg(&conf)
            .arg("-h")
            .arg(format!("{uri}/"))
            // Debug output keeps slapd in the foreground, a child of the test.
            .args(["-d", "0"])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).expect("slapd log"))
            .stderr(std::fs::File::create(dir.path().join("slapd.err")).expect("slapd log"))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", slapd.display()));
        let mut server = LdapServer {
            uri,
            child: Some(child),
            dir,
        };
        server.wait_until_answering().await;
        server.seed().await;
        server
    }

    async fn wait_until_answering(&mut self) {
        let started = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    let err = std::fs::read_to_string(self.dir.path().join("slapd.err")).unwrap_or_default();
                    panic!("slapd exited ({status}) before answering: {err}");
                }
            }
            if admin_connection(&self.uri).await.is_ok() {
                return;
            }
            assert!(
                started.elapsed() < START_LIMIT,
                "slapd did not answer on {} in {START_LIMIT:?}",
                self.uri
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn admin(&self) -> Ldap {
        admin_connection(&self.uri)
            .await
            .unwrap_or_else(|e| panic!("binding to the test directory as admin: {e}"))
    }

    async fn seed(&self) {
        let mut ldap = self.admin().await;
        let entries: Vec<(String, Attrs)> = vec![
            (
                BASE_DN.to_owned(),
                vec![
                    ("objectClass".into(), set(&["dcObject", "organization"])),
                    ("o".into(), set(&["Example"])),
                    ("dc".into(), set(&["example"])),
                ],
            ),
            (format!("ou=users,{BASE_DN}"), ou("users")),
            (format!("ou=groups,{BASE_DN}"), ou("groups")),
        ];
        for (dn, attrs) in entries {
            ldap.add(&dn, attrs)
                .await
                .and_then(|r| r.success())
                .unwrap_or_else(|e| panic!("adding {dn}: {e}"));
        }
        for person in &PEOPLE {
            self.add_person(person).await;
        }
        self.add_group("devs", &["alice", "bob"]).await;
        self.add_group("admins", &["carol"]).await;
    }

    pub async fn add_person(&self, p: &Person<'_>) {
        let mut attrs = vec![
            ("objectClass".to_owned(), set(&["inetOrgPerson"])),
            ("uid".to_owned(), set(&[p.uid])),
            ("cn".to_owned(), set(&[p.uid])),
            ("sn".to_owned(), set(&[p.uid])),
            ("userPassword".to_owned(), set(&[p.password])),
            ("employeeType".to_owned(), set(&[p.kind])),
        ];
        if let Some(email) = p.email {
            attrs.push(("mail".to_owned(), set(&[email])));
        }
        let dn = user_dn(p.uid);
        self.admin()
            .await
            .add(&dn, attrs)
            .await
            .and_then(|r| r.success())
            .unwrap_or_else(|e| panic!("adding {dn}: {e}"));
    }

    pub async fn add_group(&self, cn: &str, members: &[&str]) {
        let members: Vec<String> = members.iter().map(|m| user_dn(m)).collect();
        let attrs = vec![
            ("objectClass".to_owned(), set(&["groupOfNames"])),
            ("cn".to_owned(), set(&[cn])),
            ("member".to_owned(), members.into_iter().collect()),
        ];
        self.admin()
            .await
            .add(&group_dn(cn), attrs)
            .await
            .and_then(|r| r.success())
            .unwrap_or_else(|e| panic!("adding group {cn}: {e}"));
    }

    async fn modify(&self, dn: &str, change: Mod<String>) {
        self.admin()
            .await
            .modify(dn, vec![change])
            .await
            .and_then(|r| r.success())
            .unwrap_or_else(|e| panic!("modifying {dn}: {e}"));
    }

    pub async fn add_member(&self, group: &str, uid: &str) {
        let change = Mod::Add("member".to_owned(), HashSet::from([user_dn(uid)]));
        self.modify(&group_dn(group), change).await;
    }

    pub async fn remove_member(&self, group: &str, uid: &str) {
        let change = Mod::Delete("member".to_owned(), HashSet::from([user_dn(uid)]));
        self.modify(&group_dn(group), change).await;
    }

    pub async fn set_email(&self, uid: &str, email: &str) {
        let change = Mod::Replace("mail".to_owned(), HashSet::from([email.to_owned()]));
        self.modify(&user_dn(uid), change).await;
    }

    /// The registry config keys that point at this directory; `extra` keys
    /// are appended.
    pub fn config(&self, extra: &str) -> String {
        format!(
            "AUTHENTICATION_TYPE: LDAP\n\
             LDAP_URI: {uri}\n\
             LDAP_BASE_DN: [dc=example, dc=org]\n\
             LDAP_ADMIN_DN: {ADMIN_DN}\n\
             LDAP_ADMIN_PASSWD: {ADMIN_PASSWORD}\n\
             LDAP_USER_RDN: [ou=users]\n\
             LDAP_USER_FILTER: (employeeType=staff)\n\
             LDAP_SUPERUSER_FILTER: (memberOf={admins})\n\
             LDAP_NETWORK_TIMEOUT: 5\n\
             LDAP_TIMEOUT: 5\n\
             {extra}",
            uri = self.uri,
            admins = group_dn("admins"),
        )
    }

    /// Kills slapd: the directory is down from now on.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn ou(name: &str) -> Attrs {
    vec![
        ("objectClass".into(), set(&["organizationalUnit"])),
        ("ou".into(), set(&[name])),
    ]
}

impl Drop for LdapServer {
    fn drop(&mut self) {
        self.stop();
    }
}
