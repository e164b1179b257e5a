//! A real OpenLDAP directory for the directory sign-in tests, driven by
//! Debian's command-line tools (`slapd`, `ldap-utils`): the tree is loaded
//! with `slapadd` before `slapd` starts on a free 127.0.0.1 port in a temp
//! dir (mdb backend, a root DN, the memberof overlay), and the groups are
//! added with `ldapadd` once it answers, so the overlay gives their members
//! `memberOf`. `slapd` is killed on drop. A machine without these tools
//! fails the test with the packages to install (`e2e/run` installs them).

use std::fmt::Write as _;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::process::{free_port, run, Outcome};

pub const BASE_DN: &str = "dc=example,dc=org";
pub const ADMIN_DN: &str = "cn=admin,dc=example,dc=org";
pub const ADMIN_PASSWORD: &str = "directory-admin-secret";
/// How long `slapd` may take to answer after it starts.
const START_LIMIT: Duration = Duration::from_secs(30);
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// A directory user (an `inetOrgPerson` under `ou=users`).
#[derive(Debug, Clone, Copy)]
pub struct Person<'a> {
    pub uid: &'a str,
    pub mail: &'a str,
    pub password: &'a str,
    /// `employeeType`, for tests of the registry's user filters.
    pub employee_type: Option<&'a str>,
}

/// A `groupOfNames` under `ou=groups` with users (by uid) as members.
#[derive(Debug, Clone, Copy)]
pub struct Group<'a> {
    pub cn: &'a str,
    pub members: &'a [&'a str],
}

pub fn user_dn(uid: &str) -> String {
    format!("uid={uid},ou=users,{BASE_DN}")
}

pub fn group_dn(cn: &str) -> String {
    format!("cn={cn},ou=groups,{BASE_DN}")
}

/// A running `slapd` with its own configuration and database.
pub struct Directory {
    /// `ldap://127.0.0.1:PORT`.
    pub uri: String,
    dir: TempDir,
    child: Option<Child>,
}

/// The path of an OpenLDAP tool: on `PATH`, else in the sbin folders that a
/// non-root `PATH` often lacks.
fn tool(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(["/usr/sbin", "/usr/local/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed: the directory tests need OpenLDAP's server and clients \
                 (Debian: apt-get install slapd ldap-utils; e2e/run installs them)"
            )
        })
}

/// The first of `dirs` that holds `file`.
fn first_with(dirs: &[&'static str], file: &str) -> &'static str {
    dirs.iter()
        .copied()
        .find(|d| Path::new(d).join(file).exists())
        .unwrap_or(dirs[0])
}

fn slapd_conf(dir: &Path) -> String {
    let schema = first_with(
        &[
            "/etc/ldap/schema",
            "/etc/openldap/schema",
            "/usr/local/etc/openldap/schema",
        ],
        "core.schema",
    );
    let modules = first_with(
        &[
            "/usr/lib/ldap",
            "/usr/lib/x86_64-linux-gnu/ldap",
            "/usr/local/libexec/openldap",
        ],
        "back_mdb.la",
    );
    let dir = dir.display();
    format!(
        "include {schema}/core.schema
include {schema}/cosine.schema
include {schema}/inetorgperson.schema
include {schema}/nis.schema
modulepath {modules}
moduleload back_mdb
moduleload memberof
pidfile {dir}/slapd.pid
argsfile {dir}/slapd.args
database mdb
maxsize 67108864
suffix \"{BASE_DN}\"
rootdn \"{ADMIN_DN}\"
rootpw {ADMIN_PASSWORD}
directory {dir}/data
overlay memberof
memberof-refint TRUE
"
    )
}

/// The base entry, `ou=users`, `ou=groups` and the people, for `slapadd`.
fn tree_ldif(people: &[Person<'_>]) -> String {
    let mut ldif = format!(
        "dn: {BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n\
         dn: ou=users,{BASE_DN}\nobjectClass: organizationalUnit\nou: users\n\n\
         dn: ou=groups,{BASE_DN}\nobjectClass: organizationalUnit\nou: groups\n\n"
    );
    for p in people {
        ldif.push_str(&person_ldif(p));
    }
    ldif
}

/// One person's entry.
fn person_ldif(p: &Person<'_>) -> String {
    let mut ldif = format!(
        "dn: {dn}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: {uid}\nmail: {mail}\nuserPassword: {password}\n",
        dn = user_dn(p.uid),
        uid = p.uid,
        mail = p.mail,
        password = p.password,
    );
    if let Some(kind) = p.employee_type {
        let _ = writeln!(ldif, "employeeType: {kind}");
    }
    ldif.push('\n');
    ldif
}

/// The groups, for `ldapadd` against the running server.
fn groups_ldif(groups: &[Group<'_>]) -> String {
    let mut ldif = String::new();
    for g in groups {
        let _ = write!(
            ldif,
            "dn: {}\nobjectClass: groupOfNames\ncn: {}\n",
            group_dn(g.cn),
            g.cn
        );
        for m in g.members {
            let _ = writeln!(ldif, "member: {}", user_dn(m));
        }
        ldif.push('\n');
    }
    ldif
}

/// An OpenLDAP client tool that reads no `ldap.conf` or `.ldaprc`.
fn client(name: &str) -> Command {
    let mut cmd = Command::new(tool(name));
    cmd.env("LDAPNOINIT", "1");
    cmd
}

impl Directory {
    /// Loads `people` with `slapadd`, starts `slapd`, waits until it answers
    /// an admin search and adds `groups` with `ldapadd`.
    pub fn start(people: &[Person<'_>], groups: &[Group<'_>]) -> Directory {
        let slapd = tool("slapd");
        let dir = tempfile::Builder::new()
            .prefix("e2e-slapd-")
            .tempdir()
            .expect("temp dir for slapd");
        let path = dir.path();
        fs::create_dir_all(path.join("data")).expect("slapd data folder");
        let conf = path.join("slapd.conf");
        fs::write(&conf, slapd_conf(path)).expect("write slapd.conf");
        let tree = path.join("tree.ldif");
        fs::write(&tree, tree_ldif(people)).expect("write tree.ldif");
        run(
            Command::new(tool("slapadd")).arg("-f").arg(&conf).arg("-l").arg(&tree),
            TOOL_TIMEOUT,
        )
        .ok();

        let uri = format!("ldap://127.0.0.1:{}", free_port());
        let child = Command::new(&slapd)
            .arg("-f")
            .arg(&conf)
            .arg("-h")
            .arg(format!("{uri}/"))
            // A debug level keeps slapd in the foreground, a child of the test.
            .args(["-d", "0"])
            // e2e/run stops leftover processes by their working directory.
            .current_dir(path)
            .stdin(Stdio::null())
            .stdout(File::create(path.join("slapd.log")).expect("slapd log"))
            .stderr(File::create(path.join("slapd.err")).expect("slapd log"))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", slapd.display()));
        let mut directory = Directory {
            uri,
            dir,
            child: Some(child),
        };
        directory.wait_until_answering();
        if !groups.is_empty() {
            directory.apply("ldapadd", &groups_ldif(groups));
        }
        directory
    }

    /// Applies an LDIF with `ldapadd` or `ldapmodify` as the admin.
    fn apply(&self, tool: &str, ldif: &str) {
        let file = tempfile::NamedTempFile::new_in(self.dir.path()).expect("LDIF file");
        fs::write(file.path(), ldif).expect("write LDIF");
        self.admin_tool(tool, &["-f", &file.path().display().to_string()]).ok();
    }

    /// Adds a person to the running directory.
    pub fn add_person(&self, p: &Person<'_>) {
        self.apply("ldapadd", &person_ldif(p));
    }

    pub fn add_member(&self, group: &str, uid: &str) {
        let ldif = format!(
            "dn: {}\nchangetype: modify\nadd: member\nmember: {}\n",
            group_dn(group),
            user_dn(uid)
        );
        self.apply("ldapmodify", &ldif);
    }

    pub fn remove_member(&self, group: &str, uid: &str) {
        let ldif = format!(
            "dn: {}\nchangetype: modify\ndelete: member\nmember: {}\n",
            group_dn(group),
            user_dn(uid)
        );
        self.apply("ldapmodify", &ldif);
    }

    pub fn set_email(&self, uid: &str, mail: &str) {
        let ldif = format!(
            "dn: {}\nchangetype: modify\nreplace: mail\nmail: {mail}\n",
            user_dn(uid)
        );
        self.apply("ldapmodify", &ldif);
    }

    /// Kills slapd: the directory is down from now on.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// An OpenLDAP client tool bound as the admin to this server.
    pub fn admin_tool(&self, name: &str, args: &[&str]) -> Outcome {
        run(
            client(name)
                .args(["-x", "-H", &self.uri, "-D", ADMIN_DN, "-w", ADMIN_PASSWORD])
                .args(args),
            TOOL_TIMEOUT,
        )
    }

    fn log(&self) -> String {
        ["slapd.err", "slapd.log"]
            .iter()
            .map(|f| fs::read_to_string(self.dir.path().join(f)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn wait_until_answering(&mut self) {
        let deadline = Instant::now() + START_LIMIT;
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("slapd exited ({status}) before answering:\n{}", self.log());
            }
            let probe = self.admin_tool("ldapsearch", &["-LLL", "-b", BASE_DN, "-s", "base", "dn"]);
            if probe.success {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "slapd did not answer on {} in {START_LIMIT:?}: {}\n{}",
                self.uri,
                probe.stderr,
                self.log()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The registry's `config.yaml` keys for signing in against this
    /// directory (`AUTHENTICATION_TYPE: LDAP`); `extra` is appended.
    pub fn registry_config(&self, extra: &str) -> String {
        format!(
            "AUTHENTICATION_TYPE: LDAP
LDAP_URI: {uri}
LDAP_BASE_DN: [dc=example, dc=org]
LDAP_ADMIN_DN: {ADMIN_DN}
LDAP_ADMIN_PASSWD: {ADMIN_PASSWORD}
LDAP_USER_RDN: [ou=users]
LDAP_UID_ATTR: uid
LDAP_EMAIL_ATTR: mail
LDAP_NETWORK_TIMEOUT: 5
LDAP_TIMEOUT: 5
{extra}",
            uri = self.uri,
        )
    }
}

impl Drop for Directory {
    fn drop(&mut self) {
        self.stop();
        if thread::panicking() {
            eprintln!("--- slapd log ({}):\n{}", self.uri, self.log());
        }
    }
}
