//! Directory sign-in (`AUTHENTICATION_TYPE: LDAP`) with real clients against
//! a real OpenLDAP server: `podman login` with the directory password makes
//! the account on first login (a wrong password makes none), podman pushes
//! to the user's own namespace and pulls back, another directory user is
//! refused, and the API shows the account with the directory's email and
//! the superuser filter applied through the directory's groups.

use e2e::ldap::{group_dn, user_dn, Directory, Group, Person};
use e2e::process::{curl_json, sh, skopeo_with as skopeo};
use e2e::{backend_tests, mkoci, unique_name, Podman, Registry, TestEnv};

backend_tests!(directory_users_log_in_push_and_pull_with_real_clients);

const ALICE: Person<'static> = Person {
    uid: "alice",
    mail: "alice@corp.example",
    password: "alice-Directory-pass",
    employee_type: None,
};
const BOB: Person<'static> = Person {
    uid: "bob",
    mail: "bob@corp.example",
    password: "bob-Directory-pass",
    employee_type: None,
};
const ADMINS: Group<'static> = Group {
    cn: "registry-admins",
    members: &["alice"],
};

fn assert_refused(out: &str, what: &str) {
    let lower = out.to_ascii_lowercase();
    assert!(
        lower.contains("unauthorized")
            || lower.contains("401")
            || lower.contains("invalid username/password")
            || lower.contains("denied"),
        "{what}: expected a refusal, got:\n{out}"
    );
}

/// The HTTP status of `GET $BASE<path>` (anonymous, or with the cookie jar).
fn status_of(work: &std::path::Path, base: &str, path: &str, jar: Option<&str>) -> String {
    let cookies = jar.map(|j| format!("-b {j}")).unwrap_or_default();
    sh(
        work,
        &format!("curl -s -o /dev/null -w '%{{http_code}}' {cookies} \"$BASE{path}\""),
        &[("BASE", base)],
    )
    .ok()
    .trim()
    .to_owned()
}

fn directory_users_log_in_push_and_pull_with_real_clients(env: TestEnv) {
    let directory = Directory::start(&[ALICE, BOB], &[ADMINS]);
    // The group really gives its member `memberOf`, which the filter reads.
    let member_of = directory
        .admin_tool(
            "ldapsearch",
            &[
                "-LLL",
                "-o",
                "ldif-wrap=no",
                "-b",
                &user_dn(ALICE.uid),
                "-s",
                "base",
                "memberOf",
            ],
        )
        .ok();
    assert!(member_of.contains(&group_dn(ADMINS.cn)), "{member_of}");

    let reg = Registry::start_with(
        &env,
        &directory.registry_config(&format!(
            "LDAP_SUPERUSER_FILTER: (memberOf={})\nFEATURE_TEAM_SYNCING: false\n",
            group_dn(ADMINS.cn)
        )),
        false,
    );
    let host = reg.host();
    let base = reg.url("");
    let work = reg.scratch("ldap");

    // No account before the first login.
    assert_eq!(status_of(&work, &base, "/api/v1/users/alice", None), "404");

    let podman = Podman::new(&reg);
    let login = |p: &Podman, user: &str, password: &str| {
        p.run(&["login", "--tls-verify=false", "-u", user, "-p", password, &host])
    };
    assert_refused(
        &login(&podman, ALICE.uid, "not-the-directory-password").failed(),
        "podman login, wrong password",
    );
    assert_refused(
        &login(&podman, "nobody", ALICE.password).failed(),
        "podman login, a uid the directory lacks",
    );
    assert_eq!(
        status_of(&work, &base, "/api/v1/users/alice", None),
        "404",
        "a refused login makes no account"
    );

    // The directory password logs in and makes the account.
    login(&podman, ALICE.uid, ALICE.password).ok();
    assert_eq!(status_of(&work, &base, "/api/v1/users/alice", None), "200");

    // skopeo seeds the user's own namespace with the directory password;
    // podman pulls that with its stored login, re-tags and pushes it...
    let image = mkoci(&reg.scratch("img"), "latest", &unique_name("ldap "));
    let seed = format!("{host}/{}/app:seed", ALICE.uid);
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &format!("{}:{}", ALICE.uid, ALICE.password),
        &image.reference(),
        &format!("docker://{seed}"),
    ])
    .ok();
    podman.run(&["pull", "-q", "--tls-verify=false", &seed]).ok();
    let pushed = format!("{host}/{}/app:1", ALICE.uid);
    podman.run(&["tag", &seed, &pushed]).ok();
    podman.run(&["push", "-q", "--tls-verify=false", &pushed]).ok();

    // ...and a fresh podman pulls it back once logged in; the repository is
    // private, so anonymous and other directory users are refused.
    let fresh = Podman::new(&reg);
    assert_refused(
        &fresh.run(&["pull", "-q", "--tls-verify=false", &pushed]).failed(),
        "anonymous pull of the user's private repository",
    );
    login(&fresh, BOB.uid, BOB.password).ok();
    assert_refused(
        &fresh.run(&["pull", "-q", "--tls-verify=false", &pushed]).failed(),
        "another directory user pulls",
    );
    login(&fresh, ALICE.uid, ALICE.password).ok();
    fresh.run(&["pull", "-q", "--tls-verify=false", &pushed]).ok();
    let pulled_id = fresh.run(&["image", "inspect", "--format", "{{.Id}}", &pushed]).ok();
    assert_eq!(
        format!("sha256:{}", pulled_id.trim()),
        image.config_digest,
        "the pulled image is the pushed one"
    );

    // The API: the account signed in by the directory carries its email;
    // the superuser filter (a directory group) makes alice a superuser and
    // not bob.
    let sign_in = |user: &Person<'_>, jar: &str| {
        let body = serde_json::json!({"username": user.uid, "password": user.password}).to_string();
        sh(
            &work,
            &format!(
                "curl -s -o /dev/null -w '%{{http_code}}' -c {jar} -H 'Content-Type: application/json' \
                 -d \"$BODY\" \"$BASE/api/v1/signin\""
            ),
            &[("BASE", base.as_str()), ("BODY", body.as_str())],
        )
        .ok()
        .trim()
        .to_owned()
    };
    let wrong = Person {
        password: "not-the-directory-password",
        ..ALICE
    };
    assert_eq!(sign_in(&wrong, "wrong.jar"), "403");
    assert_eq!(sign_in(&ALICE, "alice.jar"), "200");
    let me = curl_json(
        &work,
        "curl -s -b alice.jar \"$BASE/api/v1/user/\"",
        &[("BASE", base.as_str())],
    );
    assert_eq!(me["username"], ALICE.uid, "{me}");
    assert_eq!(me["email"], ALICE.mail, "{me}");
    let repo = curl_json(
        &work,
        "curl -s -b alice.jar \"$BASE/api/v1/repository/alice/app?includeTags=true\"",
        &[("BASE", base.as_str())],
    );
    assert_eq!(repo["is_public"], false, "{repo}");
    assert!(
        repo["tags"].get("1").is_some() && repo["tags"].get("seed").is_some(),
        "{repo}"
    );
    assert_eq!(
        status_of(&work, &base, "/api/v1/superuser/users/", Some("alice.jar")),
        "200"
    );
    assert_eq!(sign_in(&BOB, "bob.jar"), "200");
    let bob = curl_json(
        &work,
        "curl -s -b bob.jar \"$BASE/api/v1/user/\"",
        &[("BASE", base.as_str())],
    );
    assert_eq!(bob["email"], BOB.mail, "{bob}");
    assert_eq!(
        status_of(&work, &base, "/api/v1/superuser/users/", Some("bob.jar")),
        "403"
    );
}
