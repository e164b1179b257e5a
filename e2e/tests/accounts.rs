//! Accounts and access with real clients: the first superuser via
//! `/api/v1/user/initialize`, the `curl` examples of Quay's documentation
//! (create an organization, create and delete a user through the superuser
//! API, create a private repository, create an organization robot), then
//! `podman login` / `skopeo login` as a user, a robot and `$oauthtoken`,
//! pushes and pulls, refused logins, and robot credential files.

use e2e::process::{curl_json, sh, skopeo_with as skopeo};
use e2e::{backend_tests, mkoci, unique_name, Podman, Registry, TestEnv};

backend_tests!(users_robots_and_oauth_tokens_log_in_with_real_clients);

const ADMIN: &str = "quayadmin";
const ADMIN_PASSWORD: &str = "quayadmin-Passw0rd";

fn assert_unauthorized(out: &str, what: &str) {
    let lower = out.to_ascii_lowercase();
    assert!(
        lower.contains("unauthorized") || lower.contains("401") || lower.contains("invalid username/password"),
        "{what}: expected an authentication failure, got:\n{out}"
    );
}

fn users_robots_and_oauth_tokens_log_in_with_real_clients(env: TestEnv) {
    let reg = Registry::start_with(
        &env,
        &format!("FEATURE_USER_INITIALIZE: true\nSUPER_USERS: [{ADMIN}]\n"),
        false,
    );
    let host = reg.host();
    let base = reg.url("");
    let work = reg.scratch("accounts");
    let vars = [("HOST", host.as_str()), ("BASE", base.as_str())];

    // The first user, a superuser, with an OAuth access token.
    let init = curl_json(
        &work,
        &format!(
            "curl -s -X POST -H 'Content-Type: application/json' \
             -d '{{\"username\":\"{ADMIN}\",\"password\":\"{ADMIN_PASSWORD}\",\"email\":\"admin@example.com\",\"access_token\":true}}' \
             \"$BASE/api/v1/user/initialize\""
        ),
        &vars,
    );
    let token = init["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access_token in {init}"))
        .to_owned();
    let mut vars = vars.to_vec();
    vars.push(("TOKEN", token.as_str()));

    // Documentation: create an organization from data.json.
    std::fs::write(work.join("data.json"), "{\"name\":\"testorg1\"}").expect("data.json");
    let created = sh(
        &work,
        "curl -s -X POST -k -d @data.json -H \"Authorization: Bearer $TOKEN\" \
         -H \"Content-Type: application/json\" $BASE/api/v1/organization/",
        &vars,
    )
    .ok();
    assert_eq!(created.trim(), "\"Created\"");

    // Documentation: create a user through the superuser API; the answer
    // carries a generated password.
    let user = curl_json(
        &work,
        "curl -s -H \"Content-Type: application/json\" -H \"Authorization: Bearer $TOKEN\" -X POST \
         --data '{ \"username\": \"quaysuper\", \"email\": \"quaysuper@example.com\" }' $BASE/api/v1/superuser/users/",
        &vars,
    );
    assert_eq!(user["username"], "quaysuper", "{user}");
    let user_password = user["password"].as_str().unwrap_or_else(|| panic!("{user}")).to_owned();
    let listed = curl_json(
        &work,
        "curl -s -X GET -H \"Authorization: Bearer $TOKEN\" \"$BASE/api/v1/superuser/users/\"",
        &vars,
    );
    let names: Vec<&str> = listed["users"]
        .as_array()
        .unwrap_or_else(|| panic!("{listed}"))
        .iter()
        .filter_map(|u| u["username"].as_str())
        .collect();
    assert!(names.contains(&"quaysuper") && names.contains(&ADMIN), "{listed}");

    // Documentation: create a private repository and an organization robot.
    let repo = curl_json(
        &work,
        "curl -s -X POST $BASE/api/v1/repository -H \"Authorization: Bearer $TOKEN\" \
         -H 'Content-Type: application/json' \
         -d '{\"namespace\":\"testorg1\", \"repository\":\"yourreponame\", \
              \"description\":\"descriptionofyourrepo\", \"visibility\": \"private\"}'",
        &vars,
    );
    assert_eq!(repo["name"], "yourreponame", "{repo}");
    let robot = curl_json(
        &work,
        "curl -s -X PUT $BASE/api/v1/organization/testorg1/robots/deployer -H \"Authorization: Bearer $TOKEN\"",
        &vars,
    );
    assert_eq!(robot["name"], "testorg1+deployer", "{robot}");
    let robot_token = robot["token"].as_str().unwrap_or_else(|| panic!("{robot}")).to_owned();
    let granted = curl_json(
        &work,
        "curl -s -X PUT -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \
         -d '{\"role\": \"write\"}' $BASE/api/v1/repository/testorg1/yourreponame/permissions/user/testorg1+deployer",
        &vars,
    );
    assert_eq!(granted["role"], "write", "{granted}");

    let image = mkoci(&reg.scratch("img"), "latest", &unique_name("accounts "));
    let private = format!("{host}/testorg1/yourreponame");

    // skopeo login as the robot, then push with the stored credentials.
    let robot_auth = work.join("robot-auth.json");
    let robot_auth_s = robot_auth.display().to_string();
    skopeo(&[
        "login",
        "--tls-verify=false",
        "--authfile",
        &robot_auth_s,
        "-u",
        "testorg1+deployer",
        "-p",
        &robot_token,
        &host,
    ])
    .ok();
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--authfile",
        &robot_auth_s,
        &image.reference(),
        &format!("docker://{private}:v1"),
    ])
    .ok();

    // The private repository is not pullable anonymously.
    let anonymous = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--no-creds",
        &format!("docker://{private}:v1"),
    ])
    .failed();
    assert_unauthorized(&anonymous, "anonymous pull of a private repository");

    // podman login as the user the superuser created: the repository is
    // private to the organization, so the user cannot pull it...
    let podman = Podman::new(&reg);
    let login =
        |user: &str, password: &str| podman.run(&["login", "--tls-verify=false", "-u", user, "-p", password, &host]);
    login("quaysuper", &user_password).ok();
    let refused = podman
        .run(&["pull", "-q", "--tls-verify=false", &format!("{private}:v1")])
        .failed();
    assert!(
        refused.to_ascii_lowercase().contains("unauthorized") || refused.contains("denied"),
        "{refused}"
    );
    // ...but pushes into their own namespace, which creates the repository:
    // skopeo seeds it, podman pulls it, re-tags it and pushes it back.
    let own_seed = format!("{host}/quaysuper/app:seed");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &format!("quaysuper:{user_password}"),
        &image.reference(),
        &format!("docker://{own_seed}"),
    ])
    .ok();
    podman.run(&["pull", "-q", "--tls-verify=false", &own_seed]).ok();
    let own = format!("{host}/quaysuper/app:v1");
    podman.run(&["tag", &own_seed, &own]).ok();
    podman.run(&["push", "-q", "--tls-verify=false", &own]).ok();
    let tags = skopeo(&[
        "list-tags",
        "--tls-verify=false",
        "--creds",
        &format!("quaysuper:{user_password}"),
        &format!("docker://{host}/quaysuper/app"),
    ])
    .ok();
    assert!(tags.contains("\"v1\"") && tags.contains("\"seed\""), "{tags}");

    // A wrong password is refused by both clients.
    assert_unauthorized(
        &login("quaysuper", "not-the-password").failed(),
        "podman login, wrong password",
    );
    let wrong = skopeo(&[
        "login",
        "--tls-verify=false",
        "--authfile",
        &work.join("wrong.json").display().to_string(),
        "-u",
        "quaysuper",
        "-p",
        "not-the-password",
        &host,
    ])
    .failed();
    assert_unauthorized(&wrong, "skopeo login, wrong password");

    // $oauthtoken: the superuser's access token as the password.
    login("$oauthtoken", &token).ok();
    podman
        .run(&["pull", "-q", "--tls-verify=false", &format!("{private}:v1")])
        .ok();

    // Robot credential files work as they are downloaded.
    let config_json = work.join("robot-config.json");
    sh(
        &work,
        "curl -sf -o robot-config.json -H \"Authorization: Bearer $TOKEN\" \
         $BASE/api/v1/organization/testorg1/robots/deployer/credentials/docker-config",
        &vars,
    )
    .ok();
    skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--authfile",
        &config_json.display().to_string(),
        &format!("docker://{private}:v1"),
    ])
    .ok();
    let login_line = sh(
        &work,
        "curl -sf -H \"Authorization: Bearer $TOKEN\" \
         $BASE/api/v1/organization/testorg1/robots/deployer/credentials/podman-login",
        &vars,
    )
    .ok();
    assert!(
        login_line.starts_with("podman login -u='testorg1+deployer'"),
        "{login_line}"
    );
    let fresh_podman = Podman::new(&reg);
    let args = shell_words(&login_line);
    let mut login_args: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    login_args.insert(1, "--tls-verify=false");
    fresh_podman.run(&login_args).ok();
    fresh_podman
        .run(&["pull", "-q", "--tls-verify=false", &format!("{private}:v1")])
        .ok();

    // Regenerating the robot token refuses the old one at once.
    let regenerated = curl_json(
        &work,
        "curl -s -X POST -H \"Authorization: Bearer $TOKEN\" \
         $BASE/api/v1/organization/testorg1/robots/deployer/regenerate",
        &vars,
    );
    let new_token = regenerated["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{regenerated}"))
        .to_owned();
    assert_ne!(new_token, robot_token);
    assert_unauthorized(&login("testorg1+deployer", &robot_token).failed(), "old robot token");
    let stale = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--authfile",
        &robot_auth_s,
        &format!("docker://{private}:v1"),
    ])
    .failed();
    assert_unauthorized(&stale, "stored credentials with the old robot token");
    login("testorg1+deployer", &new_token).ok();
    podman
        .run(&["pull", "-q", "--tls-verify=false", &format!("{private}:v1")])
        .ok();

    // Made public, the repository is pullable anonymously.
    let changed = curl_json(
        &work,
        "curl -s -X POST -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \
         -d '{\"visibility\": \"public\"}' $BASE/api/v1/repository/testorg1/yourreponame/changevisibility",
        &vars,
    );
    assert_eq!(changed["success"], true, "{changed}");
    skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--no-creds",
        &format!("docker://{private}:v1"),
    ])
    .ok();
    // Anonymous pushes never work, even to a public repository.
    let push = skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-no-creds",
        &image.reference(),
        &format!("docker://{private}:anon"),
    ])
    .failed();
    assert_unauthorized(&push, "anonymous push");

    // Documentation: delete the user; their login stops working.
    let deleted = sh(
        &work,
        "curl -s -o /dev/null -w '%{http_code}' -X DELETE -H \"Authorization: Bearer $TOKEN\" \
         $BASE/api/v1/superuser/users/quaysuper",
        &vars,
    )
    .ok();
    assert_eq!(deleted.trim(), "204");
    assert_unauthorized(&login("quaysuper", &user_password).failed(), "deleted user");
    // A new account of the same name does not inherit the old repositories.
    let again = curl_json(
        &work,
        "curl -s -H \"Content-Type: application/json\" -H \"Authorization: Bearer $TOKEN\" -X POST \
         --data '{ \"username\": \"quaysuper\", \"email\": \"quaysuper2@example.com\" }' $BASE/api/v1/superuser/users/",
        &vars,
    );
    let again_password = again["password"]
        .as_str()
        .unwrap_or_else(|| panic!("{again}"))
        .to_owned();
    let gone = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--creds",
        &format!("quaysuper:{again_password}"),
        &format!("docker://{own}"),
    ])
    .failed();
    assert!(
        gone.contains("manifest unknown") || gone.contains("name unknown") || gone.contains("not found"),
        "a deleted user's private repository is unavailable: {gone}"
    );
}

/// Splits a generated `podman login -u='…' -p='…' host` line into words,
/// honouring single quotes the way a shell does.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut in_word = false;
    for ch in line.trim().chars() {
        match ch {
            '\'' => {
                quoted = !quoted;
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            c => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(current);
    }
    words
}
