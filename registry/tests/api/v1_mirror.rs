//! Repository mirroring API (quay-api.md §1.13): the mirror configuration,
//! sync-now, sync-cancel and changestate behind `FEATURE_REPO_MIRROR`, and
//! what READ_ONLY and MIRROR states mean for /v2 pushes.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::v1_logs::logs;

const ON: &str = "FEATURE_REPO_MIRROR: true\n";

/// The seed's minimal `POST …/mirror` body (chapter 14), as written.
const MINIMAL: &str = r#"{"external_reference": "quay.io/minio/mc", "external_registry_username": "", "sync_interval": 600, "sync_start_date": "2021-08-06T11:11:39Z", "root_rule": {"rule_kind": "tag_glob_csv", "rule_value": [ "latest" ]}, "robot_username": "orga+robot"}"#;

/// The seed's extended `POST …/mirror` body (chapter 14), as written.
const EXTENDED: &str = r#"{"is_enabled": true, "external_reference": "quay.io/minio/mc", "external_registry_username": "username", "external_registry_password": "password", "external_registry_config": {"unsigned_images":true, "verify_tls": false, "proxy": {"http_proxy": "http://proxy.tld", "https_proxy": "https://proxy.tld", "no_proxy": "domain"}}, "sync_interval": 600, "sync_start_date": "2021-08-06T11:11:39Z", "root_rule": {"rule_kind": "tag_glob_csv", "rule_value": [ "*" ]}, "robot_username": "orga+robot"}"#;

/// An organization `orga` owned by `owner`, with robot `orga+robot` and
/// repository `orga/<repo>`; the owner's token.
struct Mirrored {
    fx: RepoFixture,
    owner: registry::db::models::Account,
    token: String,
    repo: String,
}

async fn mirrored(config: &str, repo: &str) -> Mirrored {
    let fx = RepoFixture::with_config(config).await;
    let (owner, token) = fx.user("owner").await;
    let org = fx.org(&owner, "orga").await;
    fx.robot(&org, "robot").await;
    fx.create_repo(&token, "orga", repo, "private").await;
    Mirrored {
        fx,
        owner,
        token,
        repo: format!("orga/{repo}"),
    }
}

fn body(text: &str) -> Value {
    serde_json::from_str(text).expect("seed body is JSON")
}

impl Mirrored {
    async fn call(&self, method: &str, sub: &str, body: Option<Value>) -> (u16, Value) {
        let path = format!("/repository/{}{sub}", self.repo);
        self.fx.call(method, &path, Some(&self.token), body).await
    }
}

#[actix_web::test]
async fn without_the_feature_the_endpoints_do_not_exist() {
    let m = mirrored("", "mc").await;
    for (method, sub) in [
        ("GET", "/mirror"),
        ("POST", "/mirror"),
        ("PUT", "/mirror"),
        ("POST", "/mirror/sync-now"),
        ("POST", "/mirror/sync-cancel"),
        ("PUT", "/changestate"),
    ] {
        let (status, _) = m.call(method, sub, Some(json!({"state": "MIRROR"}))).await;
        assert_eq!(status, 404, "{method} {sub}");
    }
}

#[actix_web::test]
async fn the_seed_minimal_example_creates_a_mirror() {
    let m = mirrored(ON, "mc").await;
    let (status, value) = m.call("POST", "/mirror", Some(body(MINIMAL))).await;
    assert_eq!(status, 201, "{value}");
    assert_eq!(value, Value::Null, "Quay answers 201 with an empty body");

    let (status, view) = m.call("GET", "/mirror", None).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["is_enabled"], json!(true));
    assert_eq!(view["mirror_type"], json!("PULL"));
    assert_eq!(view["external_reference"], json!("quay.io/minio/mc"));
    assert_eq!(view["external_registry_username"], json!(""));
    assert_eq!(view["external_registry_config"], json!({}));
    assert_eq!(view["sync_interval"], json!(600));
    assert_eq!(view["sync_start_date"], json!("2021-08-06T11:11:39Z"));
    assert_eq!(view["sync_expiration_date"], Value::Null);
    assert_eq!(view["sync_retries_remaining"], json!(3));
    assert_eq!(view["sync_status"], json!("NEVER_RUN"));
    assert_eq!(
        view["root_rule"],
        json!({"rule_kind": "tag_glob_csv", "rule_value": ["latest"]})
    );
    assert_eq!(view["robot_username"], json!("orga+robot"));
    assert_eq!(view["skopeo_timeout_interval"], json!(300));

    // The robot may now push (write) into the repository.
    let (status, perm) = m.call("GET", "/permissions/user/orga+robot", None).await;
    assert_eq!(status, 200, "{perm}");
    assert_eq!(perm["role"], json!("write"));

    // A second configuration is a conflict.
    let (status, value) = m.call("POST", "/mirror", Some(body(MINIMAL))).await;
    assert_eq!(status, 409, "{value}");
    assert!(
        value["detail"].as_str().unwrap_or_default().contains("already"),
        "{value}"
    );
}

#[actix_web::test]
async fn the_seed_extended_example_keeps_the_password_secret() {
    let m = mirrored(ON, "mc").await;
    let (status, value) = m.call("POST", "/mirror", Some(body(EXTENDED))).await;
    assert_eq!(status, 201, "{value}");
    let (status, view) = m.call("GET", "/mirror", None).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["external_registry_username"], json!("username"));
    assert_eq!(
        view["external_registry_config"],
        json!({"unsigned_images": true, "verify_tls": false,
               "proxy": {"http_proxy": "http://proxy.tld", "https_proxy": "https://proxy.tld", "no_proxy": "domain"}})
    );
    assert_eq!(view["root_rule"]["rule_value"], json!(["*"]));
    assert!(view.get("external_registry_password").is_none(), "{view}");
    assert!(!view.to_string().contains("\"password\""), "{view}");

    // Stored encrypted: the database holds neither the username nor the password in clear.
    use diesel::prelude::*;
    use registry::db::schema::repomirrorconfig as rm;
    let stored =
        m.fx.services
            .db()
            .read(|c| {
                rm::table
                    .select((rm::external_registry_username, rm::external_registry_password))
                    .first::<(Option<String>, Option<String>)>(c)
                    .map_err(Into::into)
            })
            .await
            .expect("stored mirror");
    assert_ne!(stored.0.as_deref(), Some("username"));
    assert_ne!(stored.1.as_deref(), Some("password"));
    assert!(stored.1.is_some());
}

#[actix_web::test]
async fn bad_bodies_are_refused_with_400() {
    let m = mirrored(ON, "mc").await;
    let fx = &m.fx;
    let other = fx.user("stranger").await.0;
    let other_org = fx.org(&other, "otherorg").await;
    fx.robot(&other_org, "bot").await;
    let cases = [
        ("sync_start_date", json!("06/08/2021")),
        ("sync_interval", json!(-1)),
        ("sync_interval", json!("600")),
        ("skopeo_timeout_interval", json!(10)),
        ("root_rule", json!({"rule_kind": "regex", "rule_value": ["x"]})),
        ("root_rule", json!({"rule_kind": "tag_glob_csv", "rule_value": []})),
        ("external_reference", json!("")),
        ("external_reference", json!("quay.io/minio/mc:latest")),
        ("robot_username", json!("otherorg+bot")),
        ("robot_username", json!("orga+missing")),
        ("robot_username", json!("owner")),
        ("is_enabled", json!("yes")),
    ];
    for (field, value) in cases {
        let mut b = body(MINIMAL);
        b[field] = value.clone();
        let (status, res) = m.call("POST", "/mirror", Some(b)).await;
        assert_eq!(status, 400, "{field}={value}: {res}");
        assert!(res["detail"].is_string(), "{res}");
    }
    for missing in [
        "external_reference",
        "sync_interval",
        "sync_start_date",
        "root_rule",
        "robot_username",
    ] {
        let mut b = body(MINIMAL);
        b.as_object_mut().expect("object").remove(missing);
        let (status, res) = m.call("POST", "/mirror", Some(b)).await;
        assert_eq!(status, 400, "without {missing}: {res}");
    }
    // Nothing was created by the refused requests.
    let (status, _) = m.call("GET", "/mirror", None).await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn only_repository_admins_manage_mirrors() {
    let m = mirrored(ON, "mc").await;
    let fx = &m.fx;
    let (writer, writer_token) = fx.user("writer").await;
    grant_role(&fx.app, &m.repo, Grantee::Account(&writer.username), "write").await;
    let (_, reader_token) = fx.user("reader").await;
    grant_role(&fx.app, &m.repo, Grantee::Account("reader"), "read").await;
    let (status, _) = m.call("POST", "/mirror", Some(body(MINIMAL))).await;
    assert_eq!(status, 201);
    // A token of the admin without the repo:admin scope.
    let narrow = fx.token(&m.owner, "repo:write").await;

    let path = |sub: &str| format!("/repository/{}{sub}", m.repo);
    for (method, sub, b) in [
        ("GET", "/mirror", None),
        ("POST", "/mirror", Some(body(MINIMAL))),
        ("PUT", "/mirror", Some(json!({"sync_interval": 5}))),
        ("POST", "/mirror/sync-now", None),
        ("POST", "/mirror/sync-cancel", None),
        ("PUT", "/changestate", Some(json!({"state": "NORMAL"}))),
    ] {
        for token in [&writer_token, &reader_token, &narrow] {
            let (status, res) = fx.call(method, &path(sub), Some(token), b.clone()).await;
            assert_eq!(status, 403, "{method} {sub}: {res}");
        }
        let (status, res) = fx.call(method, &path(sub), None, b.clone()).await;
        assert_eq!(status, 401, "anonymous {method} {sub}: {res}");
    }
    let (_, view) = m.call("GET", "/mirror", None).await;
    assert_eq!(view["sync_interval"], json!(600), "refused calls changed nothing");
    assert_eq!(view["sync_status"], json!("NEVER_RUN"));
}

#[actix_web::test]
async fn updates_change_only_what_is_sent() {
    let m = mirrored(ON, "mc").await;
    let (status, _) = m.call("PUT", "/mirror", Some(json!({"sync_interval": 60}))).await;
    assert_eq!(status, 404, "no mirror yet");
    let (status, _) = m.call("POST", "/mirror", Some(body(EXTENDED))).await;
    assert_eq!(status, 201);

    let change = json!({
        "is_enabled": false,
        "sync_interval": 60,
        "sync_start_date": "2030-01-02T03:04:05Z",
        "root_rule": {"rule_kind": "tag_glob_csv", "rule_value": ["v1.*", "latest"]},
        "external_registry_config": {"proxy": {"no_proxy": null}},
        "skopeo_timeout_interval": 600,
    });
    let (status, res) = m.call("PUT", "/mirror", Some(change)).await;
    assert_eq!(status, 201, "{res}");
    let (_, view) = m.call("GET", "/mirror", None).await;
    assert_eq!(view["is_enabled"], json!(false));
    assert_eq!(view["sync_interval"], json!(60));
    assert_eq!(view["sync_start_date"], json!("2030-01-02T03:04:05Z"));
    assert_eq!(view["root_rule"]["rule_value"], json!(["v1.*", "latest"]));
    assert_eq!(view["external_registry_config"]["verify_tls"], json!(false));
    assert_eq!(view["external_registry_config"]["proxy"]["no_proxy"], Value::Null);
    assert_eq!(
        view["external_registry_config"]["proxy"]["http_proxy"],
        json!("http://proxy.tld")
    );
    assert_eq!(view["skopeo_timeout_interval"], json!(600));
    assert_eq!(view["external_registry_username"], json!("username"));

    // Quay's credential rules.
    let (status, res) = m
        .call("PUT", "/mirror", Some(json!({"external_registry_password": "new"})))
        .await;
    assert_eq!(status, 400, "{res}");
    let (status, res) = m
        .call(
            "PUT",
            "/mirror",
            Some(json!({"external_registry_username": null, "external_registry_password": "new"})),
        )
        .await;
    assert_eq!(status, 400, "{res}");
    let (status, _) = m
        .call(
            "PUT",
            "/mirror",
            Some(json!({"external_registry_username": null, "external_registry_password": null})),
        )
        .await;
    assert_eq!(status, 201);
    let (_, view) = m.call("GET", "/mirror", None).await;
    assert_eq!(view["external_registry_username"], Value::Null);

    // A bad field refuses the whole update.
    let (status, _) = m
        .call(
            "PUT",
            "/mirror",
            Some(json!({"sync_interval": 5, "sync_start_date": "tomorrow"})),
        )
        .await;
    assert_eq!(status, 400);
    let (_, view) = m.call("GET", "/mirror", None).await;
    assert_eq!(view["sync_interval"], json!(60));
}

#[actix_web::test]
async fn sync_now_and_cancel_move_the_status_and_are_logged() {
    let m = mirrored(ON, "mc").await;
    let (status, _) = m.call("POST", "/mirror/sync-now", None).await;
    assert_eq!(status, 404, "no mirror");
    let (status, _) = m.call("POST", "/mirror/sync-cancel", None).await;
    assert_eq!(status, 404, "no mirror");
    let (status, _) = m.call("POST", "/mirror", Some(body(MINIMAL))).await;
    assert_eq!(status, 201);

    let (status, _) = m.call("POST", "/mirror/sync-cancel", None).await;
    assert_eq!(status, 404, "nothing to cancel");
    let (status, res) = m.call("POST", "/mirror/sync-now", None).await;
    assert_eq!(status, 204, "{res}");
    let (_, view) = m.call("GET", "/mirror", None).await;
    assert_eq!(view["sync_status"], json!("SYNC_NOW"));
    let (status, _) = m.call("POST", "/mirror/sync-cancel", None).await;
    assert_eq!(status, 204);
    let (_, view) = m.call("GET", "/mirror", None).await;
    assert_eq!(view["sync_status"], json!("CANCEL"));

    let (status, _) = m
        .call(
            "PUT",
            "/mirror",
            Some(json!({"external_registry_username": "u", "external_registry_password": "secret-pw"})),
        )
        .await;
    assert_eq!(status, 201);

    let entries = logs(&m.fx, &format!("/repository/{}/logs", m.repo), &m.token).await;
    let changes: Vec<(String, Value)> = entries
        .iter()
        .filter(|e| e["kind"] == json!("repo_mirror_config_changed"))
        .map(|e| {
            (
                e["metadata"]["changed"].as_str().unwrap_or_default().to_owned(),
                e["metadata"]["to"].clone(),
            )
        })
        .collect();
    for expected in [
        ("external_reference".to_owned(), json!("quay.io/minio/mc")),
        ("sync_status".to_owned(), json!("SYNC_NOW")),
        ("sync_status".to_owned(), json!("SYNC_CANCEL")),
        ("external_registry_username".to_owned(), json!("u")),
        ("external_registry_password".to_owned(), json!("********")),
    ] {
        assert!(changes.contains(&expected), "{expected:?} in {changes:?}");
    }
    assert!(
        !serde_json::to_string(&entries).expect("JSON").contains("secret-pw"),
        "the password is never logged"
    );
}

#[actix_web::test]
async fn changestate_follows_quays_rules() {
    let m = mirrored(ON, "mc").await;
    for bad in [
        json!({"state": "FROZEN"}),
        json!({"state": "MARKED_FOR_DELETION"}),
        json!({}),
        json!({"state": 1}),
    ] {
        let (status, res) = m.call("PUT", "/changestate", Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad}: {res}");
    }
    for state in ["READ_ONLY", "MIRROR", "NORMAL"] {
        let (status, res) = m.call("PUT", "/changestate", Some(json!({"state": state}))).await;
        assert_eq!(status, 200, "{state}: {res}");
        assert_eq!(res, json!({"success": true}));
        let (_, repo) =
            m.fx.call("GET", &format!("/repository/{}", m.repo), Some(&m.token), None)
                .await;
        assert_eq!(repo["state"], json!(state));
    }
    let entries = logs(&m.fx, &format!("/repository/{}/logs", m.repo), &m.token).await;
    let states: Vec<&Value> = entries
        .iter()
        .filter(|e| e["kind"] == json!("change_repo_state"))
        .map(|e| &e["metadata"]["state_changed"])
        .collect();
    assert_eq!(states.len(), 3, "{entries:?}");
}

/// Pushes an image to `repo` as `client` (Basic credentials); the status
/// of the first write.
async fn try_push(app: &TestApp, client: &reqwest::Client, repo: &str) -> (StatusCode, Value) {
    let res = client
        .post(app.url(&format!("/v2/{repo}/blobs/uploads/")))
        .send()
        .await
        .expect("start upload");
    let status = res.status();
    let value = res.json::<Value>().await.unwrap_or(Value::Null);
    (status, value)
}

fn basic_client(user: &str, secret: &str) -> reqwest::Client {
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Basic {basic}").parse().expect("header value"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("client")
}

#[actix_web::test]
async fn read_only_and_mirror_repositories_refuse_user_pushes() {
    let fx = RepoFixture::with_config(ON).await;
    let (pusher, token) = fx.user("alice").await;
    let repo = "alice/mirrored";
    fx.create_repo(&token, "alice", "mirrored", "public").await;
    fx.push_tag(repo, "v1").await;
    let user_client = basic_client("alice", "password123");
    let short = registry::service::RobotShortName::parse("mirror").expect("robot name");
    let robot = fx
        .services
        .create_robot(
            &pusher,
            &short,
            registry::service::NewRobot {
                description: None,
                unstructured_metadata: None,
            },
        )
        .await
        .expect("robot");
    let robot_client = basic_client("alice+mirror", &robot.token);
    let api = |sub: &str| format!("/repository/{repo}{sub}");

    let (status, _) = fx
        .call(
            "PUT",
            &api("/changestate"),
            Some(&token),
            Some(json!({"state": "READ_ONLY"})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, err) = try_push(&fx.app, &user_client, repo).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{err}");
    assert_eq!(err["errors"][0]["code"], json!("DENIED"), "{err}");
    assert!(err.to_string().contains("read-only"), "{err}");
    // Pulls still work.
    let res = fx.app.get(&format!("/v2/{repo}/manifests/v1")).await;
    assert_eq!(res.status(), StatusCode::OK);

    let mut b = body(MINIMAL);
    b["robot_username"] = json!("alice+mirror");
    let (status, res) = fx.call("POST", &api("/mirror"), Some(&token), Some(b)).await;
    assert_eq!(status, 201, "{res}");
    let (status, _) = fx
        .call(
            "PUT",
            &api("/changestate"),
            Some(&token),
            Some(json!({"state": "MIRROR"})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, err) = try_push(&fx.app, &user_client, repo).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{err}");
    assert!(err.to_string().contains("is a mirror"), "{err}");
    let res = user_client
        .delete(fx.app.url(&format!("/v2/{repo}/manifests/v1")))
        .send()
        .await
        .expect("delete");
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "no deletes either");
    // The mirror's robot may write.
    let (status, res) = try_push(&fx.app, &robot_client, repo).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{res}");

    let (status, _) = fx
        .call(
            "PUT",
            &api("/changestate"),
            Some(&token),
            Some(json!({"state": "NORMAL"})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, res) = try_push(&fx.app, &user_client, repo).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{res}");
}

/// `PUT /repository/{repo}/changestate` to `state` as `token`; must succeed.
async fn change_state(fx: &RepoFixture, token: &str, repo: &str, state: &str) {
    let (status, res) = fx
        .call(
            "PUT",
            &format!("/repository/{repo}/changestate"),
            Some(token),
            Some(json!({"state": state})),
        )
        .await;
    assert_eq!(status, 200, "{state}: {res}");
}

/// The actions a `/v2/auth` token grants `client` on `repo` when it asks
/// for `pull,push,*`.
async fn granted(app: &TestApp, client: &reqwest::Client, repo: &str) -> Vec<String> {
    use base64::Engine as _;
    let res = client
        .get(app.url(&format!("/v2/auth?service=x&scope=repository:{repo}:pull,push,*")))
        .send()
        .await
        .expect("token request");
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.expect("token JSON");
    let jwt = body["token"].as_str().expect("token");
    let claims = jwt.split('.').nth(1).expect("JWT payload");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(claims)
            .expect("base64url payload"),
    )
    .expect("claims JSON");
    let mut actions: Vec<String> = claims["access"][0]["actions"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    actions.sort();
    actions
}

#[actix_web::test]
async fn registry_tokens_follow_the_repository_state() {
    let fx = RepoFixture::with_config(ON).await;
    let (owner, token) = fx.user("alice").await;
    let org = fx.org(&owner, "orga").await;
    let (robot, robot_secret) = robot_with_token(&fx, &org, "mirror").await;
    let (other, other_secret) = robot_with_token(&fx, &org, "other").await;
    let repo = "orga/state";
    fx.create_repo(&token, "orga", "state", "private").await;
    for r in ["orga+mirror", "orga+other"] {
        grant_role(&fx.app, repo, Grantee::Account(r), "write").await;
    }
    let (user, mirror_robot, other_robot) = (
        basic_client("alice", "password123"),
        basic_client(&robot, &robot_secret),
        basic_client(&other, &other_secret),
    );
    let all = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(granted(&fx.app, &user, repo).await, all(&["*", "pull", "push"]));
    assert_eq!(granted(&fx.app, &other_robot, repo).await, all(&["pull", "push"]));

    let api = |sub: &str| format!("/repository/{repo}{sub}");
    change_state(&fx, &token, repo, "READ_ONLY").await;
    assert_eq!(
        granted(&fx.app, &user, repo).await,
        all(&["pull"]),
        "no push, no * when read-only"
    );
    assert_eq!(granted(&fx.app, &other_robot, repo).await, all(&["pull"]));

    let mut b = body(MINIMAL);
    b["robot_username"] = json!("orga+mirror");
    let (status, res) = fx.call("POST", &api("/mirror"), Some(&token), Some(b)).await;
    assert_eq!(status, 201, "{res}");
    change_state(&fx, &token, repo, "MIRROR").await;
    assert_eq!(
        granted(&fx.app, &user, repo).await,
        all(&["pull"]),
        "the admin may not push into a mirror"
    );
    assert_eq!(granted(&fx.app, &other_robot, repo).await, all(&["pull"]));
    assert_eq!(
        granted(&fx.app, &mirror_robot, repo).await,
        all(&["pull", "push"]),
        "the mirror's robot may push"
    );

    change_state(&fx, &token, repo, "NORMAL").await;
    assert_eq!(granted(&fx.app, &user, repo).await, all(&["*", "pull", "push"]));
}

/// Creates robot `short` of `namespace`: its full name and secret.
async fn robot_with_token(
    fx: &RepoFixture,
    namespace: &registry::db::models::Account,
    short: &str,
) -> (String, String) {
    let short = registry::service::RobotShortName::parse(short).expect("robot name");
    let robot = fx
        .services
        .create_robot(
            namespace,
            &short,
            registry::service::NewRobot {
                description: None,
                unstructured_metadata: None,
            },
        )
        .await
        .expect("robot");
    (robot.name().to_owned(), robot.token.clone())
}

#[actix_web::test]
async fn content_changes_through_the_api_are_refused_unless_normal() {
    let fx = RepoFixture::with_config(ON).await;
    let (owner, token) = fx.user("alice").await;
    let org = fx.org(&owner, "orga").await;
    fx.robot(&org, "mirror").await;
    let repo = "orga/frozen";
    fx.create_repo(&token, "orga", "frozen", "private").await;
    let digest = fx.push_tag(repo, "v1").await;
    let (status, res) = fx
        .call(
            "POST",
            &format!("/repository/{repo}/manifest/{digest}/labels"),
            Some(&token),
            Some(json!({"key": "keep", "value": "me", "media_type": "text/plain"})),
        )
        .await;
    assert_eq!(status, 201, "{res}");
    let label_id = res["label"]["id"].as_str().expect("label id").to_owned();
    let mut b = body(MINIMAL);
    b["robot_username"] = json!("orga+mirror");
    let (status, res) = fx
        .call("POST", &format!("/repository/{repo}/mirror"), Some(&token), Some(b))
        .await;
    assert_eq!(status, 201, "{res}");

    for state in ["READ_ONLY", "MIRROR"] {
        change_state(&fx, &token, repo, state).await;
        let writes = [
            (
                "PUT",
                format!("/repository/{repo}/tag/v2"),
                Some(json!({"manifest_digest": digest})),
            ),
            ("DELETE", format!("/repository/{repo}/tag/v1"), None),
            (
                "POST",
                format!("/repository/{repo}/tag/v1/restore"),
                Some(json!({"manifest_digest": digest})),
            ),
            (
                "POST",
                format!("/repository/{repo}/manifest/{digest}/labels"),
                Some(json!({"key": "k", "value": "v", "media_type": "text/plain"})),
            ),
            (
                "DELETE",
                format!("/repository/{repo}/manifest/{digest}/labels/{label_id}"),
                None,
            ),
        ];
        for (method, path, body) in writes {
            let (status, res) = fx.call(method, &path, Some(&token), body).await;
            assert_eq!(status, 503, "{state} {method} {path}: {res}");
            assert!(
                res["detail"]
                    .as_str()
                    .unwrap_or("")
                    .contains("read only or mirror mode"),
                "{state} {method} {path}: {res}"
            );
        }
        // Nothing changed: v1 is still there, v2 was not made, the label stays.
        let (_, tags) = fx
            .call(
                "GET",
                &format!("/repository/{repo}/tag/?onlyActiveTags=true"),
                Some(&token),
                None,
            )
            .await;
        let names: Vec<&str> = tags["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        assert_eq!(names, vec!["v1"], "{state}: {tags}");
        let (status, _) = fx
            .call(
                "GET",
                &format!("/repository/{repo}/manifest/{digest}/labels/{label_id}"),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(status, 200, "{state}: the label is kept");
    }
    // Back to NORMAL, the same calls work again.
    change_state(&fx, &token, repo, "NORMAL").await;
    let (status, res) = fx
        .call(
            "PUT",
            &format!("/repository/{repo}/tag/v2"),
            Some(&token),
            Some(json!({"manifest_digest": digest})),
        )
        .await;
    assert_eq!(status, 201, "{res}");
}
