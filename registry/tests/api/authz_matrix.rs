//! The authorization matrix: every kind of caller against every protected
//! action, through the real HTTP APIs. Each row says who may do what; every
//! cell that is not allowed must be refused with the right status.

use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    api_user, image_manifest, random_bytes, spawn_app_with, TestApp, OCI_CONFIG, OCI_LAYER, OCI_MANIFEST,
};

/// The protected actions, in column order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Pull,
    Push,
    DeleteTag,
    ChangePermissions,
    CreateRepository,
    CreateRobot,
    ListOrgMembers,
    CreateApplication,
    AddDefaultPermission,
    ListAllUsers,
}

const ACTS: [Act; 10] = [
    Act::Pull,
    Act::Push,
    Act::DeleteTag,
    Act::ChangePermissions,
    Act::CreateRepository,
    Act::CreateRobot,
    Act::ListOrgMembers,
    Act::CreateApplication,
    Act::AddDefaultPermission,
    Act::ListAllUsers,
];

/// How a caller proves who it is.
#[derive(Clone)]
enum Cred {
    Anonymous,
    /// A user: an OAuth token (REST API) also usable as `$oauthtoken` (/v2).
    User(String),
    /// A robot: `ns+name` and its token (/v2 only; robots hold no OAuth tokens).
    Robot(String, String),
}

impl Cred {
    fn basic(&self) -> Option<String> {
        let pair = match self {
            Cred::Anonymous => return None,
            Cred::User(token) => format!("$oauthtoken:{token}"),
            Cred::Robot(name, token) => format!("{name}:{token}"),
        };
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        ))
    }

    fn bearer(&self) -> Option<String> {
        match self {
            Cred::User(token) => Some(format!("Bearer {token}")),
            _ => None,
        }
    }
}

struct World {
    app: TestApp,
    client: reqwest::Client,
    owner: String,
    manifest: Vec<u8>,
}

impl World {
    async fn call(
        &self,
        method: Method,
        path: &str,
        auth: Option<String>,
        body: Option<(&str, Vec<u8>)>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.app.url(path));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        if let Some((ct, b)) = body {
            req = req.header("Content-Type", ct).body(b);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn api(&self, method: Method, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(
            method,
            path,
            Some(format!("Bearer {token}")),
            Some(("application/json", body.to_string().into_bytes())),
        )
        .await
    }

    /// Tags the shared image as `tag` in acme/app, as the owner.
    async fn tag(&self, tag: &str) {
        let (s, _) = self
            .call(
                Method::PUT,
                &format!("/v2/acme/app/manifests/{tag}"),
                Cred::User(self.owner.clone()).basic(),
                Some((OCI_MANIFEST, self.manifest.clone())),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "owner tags {tag}");
    }

    /// Performs `act` as `cred`; returns the status.
    async fn perform(&self, who: &str, cred: &Cred, act: Act) -> StatusCode {
        match act {
            Act::Pull => {
                self.call(Method::GET, "/v2/acme/app/manifests/v1", cred.basic(), None)
                    .await
                    .0
            }
            Act::Push => {
                let path = format!("/v2/acme/app/manifests/pushed-by-{who}");
                self.call(
                    Method::PUT,
                    &path,
                    cred.basic(),
                    Some((OCI_MANIFEST, self.manifest.clone())),
                )
                .await
                .0
            }
            Act::DeleteTag => {
                let tag = format!("doomed-{who}");
                self.tag(&tag).await;
                self.call(
                    Method::DELETE,
                    &format!("/v2/acme/app/manifests/{tag}"),
                    cred.basic(),
                    None,
                )
                .await
                .0
            }
            Act::ChangePermissions => {
                let body = json!({"role": "read"}).to_string().into_bytes();
                let path = "/api/v1/repository/acme/app/permissions/user/bystander";
                self.call(Method::PUT, path, cred.bearer(), Some(("application/json", body)))
                    .await
                    .0
            }
            Act::CreateRepository => {
                let body = json!({"namespace": "acme", "repository": format!("new-{who}"), "visibility": "private", "description": ""});
                self.call(
                    Method::POST,
                    "/api/v1/repository",
                    cred.bearer(),
                    Some(("application/json", body.to_string().into_bytes())),
                )
                .await
                .0
            }
            Act::CreateRobot => {
                let path = format!("/api/v1/organization/acme/robots/made{}", who.replace(['-', '+'], ""));
                self.call(Method::PUT, &path, cred.bearer(), None).await.0
            }
            Act::ListOrgMembers => {
                self.call(Method::GET, "/api/v1/organization/acme/members", cred.bearer(), None)
                    .await
                    .0
            }
            Act::CreateApplication => {
                let body = json!({"name": format!("app-{who}")}).to_string().into_bytes();
                let path = "/api/v1/organization/acme/applications";
                self.call(Method::POST, path, cred.bearer(), Some(("application/json", body)))
                    .await
                    .0
            }
            Act::AddDefaultPermission => {
                let body = json!({"role": "read", "delegate": {"name": "bystander", "kind": "user"}});
                let path = "/api/v1/organization/acme/prototypes";
                let body = Some(("application/json", body.to_string().into_bytes()));
                self.call(Method::POST, path, cred.bearer(), body).await.0
            }
            Act::ListAllUsers => {
                self.call(Method::GET, "/api/v1/superuser/users/", cred.bearer(), None)
                    .await
                    .0
            }
        }
    }
}

/// Builds organization `acme` with repository `acme/app` (private, tag v1)
/// and one caller of every kind.
async fn world() -> (World, Vec<(&'static str, Cred, Vec<Act>)>) {
    let app = spawn_app_with("SUPER_USERS: [root]\n").await;
    let mut tokens = std::collections::HashMap::new();
    for name in [
        "owner",
        "outsider",
        "reader",
        "writer",
        "repoadmin",
        "member",
        "creator",
        "root",
        "bystander",
        "zetaowner",
    ] {
        let (_, token) = api_user(&app, name, "all").await;
        tokens.insert(name, token);
    }
    let world = World {
        client: reqwest::Client::new(),
        owner: tokens["owner"].clone(),
        manifest: Vec::new(),
        app,
    };
    let owner = tokens["owner"].clone();
    assert_eq!(
        world
            .api(Method::POST, "/api/v1/organization/", &owner, json!({"name": "acme"}))
            .await
            .0,
        StatusCode::CREATED
    );
    let zeta = tokens["zetaowner"].clone();
    assert_eq!(
        world
            .api(Method::POST, "/api/v1/organization/", &zeta, json!({"name": "zeta"}))
            .await
            .0,
        StatusCode::CREATED
    );
    for (team, role, member) in [("devs", "creator", "creator"), ("staff", "member", "member")] {
        let path = format!("/api/v1/organization/acme/team/{team}");
        assert!(world
            .api(Method::PUT, &path, &owner, json!({"role": role}))
            .await
            .0
            .is_success());
        let path = format!("/api/v1/organization/acme/team/{team}/members/{member}");
        assert!(world.api(Method::PUT, &path, &owner, json!({})).await.0.is_success());
    }
    let mut robots = std::collections::HashMap::new();
    for (org, token, bot) in [
        ("acme", &owner, "pusher"),
        ("acme", &owner, "idle"),
        ("zeta", &zeta, "pusher"),
    ] {
        let (s, v) = world
            .api(
                Method::PUT,
                &format!("/api/v1/organization/{org}/robots/{bot}"),
                token,
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "robot {org}+{bot}: {v}");
        robots.insert(
            format!("{org}+{bot}"),
            v["token"].as_str().expect("robot token").to_owned(),
        );
    }
    // The image: config and layer pushed by the owner, then tagged v1.
    let owner_basic = Cred::User(owner.clone()).basic();
    let mut descriptors = Vec::new();
    for (media, data) in [
        (OCI_CONFIG, br#"{"architecture":"amd64","os":"linux"}"#.to_vec()),
        (OCI_LAYER, random_bytes(512)),
    ] {
        let digest = crate::helpers::sha256(&data);
        let path = format!("/v2/acme/app/blobs/uploads/?digest={digest}");
        let (s, _) = world
            .call(
                Method::POST,
                &path,
                owner_basic.clone(),
                Some(("application/octet-stream", data.clone())),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "owner pushes a blob");
        descriptors.push((media, digest, data.len()));
    }
    let world = World {
        manifest: image_manifest(
            OCI_MANIFEST,
            (descriptors[0].0, &descriptors[0].1, descriptors[0].2),
            &[(descriptors[1].0, &descriptors[1].1, descriptors[1].2)],
        ),
        ..world
    };
    world.tag("v1").await;
    for (grantee, role) in [
        ("reader", "read"),
        ("writer", "write"),
        ("repoadmin", "admin"),
        ("acme+pusher", "write"),
    ] {
        let path = format!("/api/v1/repository/acme/app/permissions/user/{grantee}");
        let (s, v) = world.api(Method::PUT, &path, &owner, json!({"role": role})).await;
        assert!(s.is_success(), "grant {role} to {grantee}: {s} {v}");
    }
    use Act::*;
    let user = |n: &str| Cred::User(tokens[n].clone());
    let robot = |n: &str| Cred::Robot(n.to_owned(), robots[n].clone());
    let rows = vec![
        ("anonymous", Cred::Anonymous, vec![]),
        ("outsider", user("outsider"), vec![]),
        ("reader", user("reader"), vec![Pull]),
        ("writer", user("writer"), vec![Pull, Push, DeleteTag]),
        (
            "repoadmin",
            user("repoadmin"),
            vec![Pull, Push, DeleteTag, ChangePermissions],
        ),
        ("member", user("member"), vec![]),
        ("creator", user("creator"), vec![CreateRepository]),
        (
            "orgadmin",
            user("owner"),
            vec![
                Pull,
                Push,
                DeleteTag,
                ChangePermissions,
                CreateRepository,
                CreateRobot,
                ListOrgMembers,
                CreateApplication,
                AddDefaultPermission,
            ],
        ),
        ("robot-with-write", robot("acme+pusher"), vec![Pull, Push, DeleteTag]),
        ("robot-without-permission", robot("acme+idle"), vec![]),
        ("robot-of-another-org", robot("zeta+pusher"), vec![]),
        ("superuser", user("root"), vec![ListAllUsers]),
    ];
    (world, rows)
}

/// What a refused call answers: 401 for callers without credentials (and
/// robots on the REST API, which take no robot credentials), else 403.
fn refused_status(cred: &Cred, act: Act) -> StatusCode {
    let rest_api = !matches!(act, Act::Pull | Act::Push | Act::DeleteTag);
    match cred {
        Cred::Anonymous => StatusCode::UNAUTHORIZED,
        Cred::Robot(..) if rest_api => StatusCode::UNAUTHORIZED,
        _ => StatusCode::FORBIDDEN,
    }
}

#[actix_web::test]
async fn every_caller_may_do_exactly_what_its_role_allows_and_is_refused_the_rest() {
    let (world, rows) = world().await;
    let mut allowed = 0;
    let mut refused = 0;
    let mut wrong = Vec::new();
    for (who, cred, may) in &rows {
        for act in ACTS {
            let got = world.perform(who, cred, act).await;
            if may.contains(&act) {
                allowed += 1;
                if !got.is_success() {
                    wrong.push(format!("{who} {act:?}: allowed, got {got}"));
                }
            } else {
                refused += 1;
                let want = refused_status(cred, act);
                if got != want {
                    wrong.push(format!("{who} {act:?}: refused with {want}, got {got}"));
                }
            }
        }
    }
    eprintln!(
        "authorization matrix: {} cases, {allowed} allowed, {refused} refused",
        allowed + refused
    );
    assert!(
        wrong.is_empty(),
        "authorization matrix mismatches:\n{}",
        wrong.join("\n")
    );
}

#[actix_web::test]
async fn an_oauth_token_used_for_docker_login_is_narrowed_to_its_scopes() {
    let (world, _) = world().await;
    let services = world.app.services_with_stale_age(86_400).await;
    let owner = services.account("owner").await.expect("lookup").expect("owner exists");
    for (scopes, may_pull, may_push) in [
        ("repo:read", true, false),
        ("repo:write", true, true),
        ("user:read", false, false),
    ] {
        let token = crate::helpers::api_token(&world.app, &owner, scopes).await;
        let cred = Cred::User(token);
        let pull = world
            .perform(&format!("read-{}", scopes.replace(':', "-")), &cred, Act::Pull)
            .await;
        let push = world
            .perform(&format!("push-{}", scopes.replace(':', "-")), &cred, Act::Push)
            .await;
        assert_eq!(pull.is_success(), may_pull, "{scopes} pull: {pull}");
        assert_eq!(push.is_success(), may_push, "{scopes} push: {push}");
        if !may_push {
            assert_eq!(push, StatusCode::FORBIDDEN, "{scopes} push is refused");
        }
    }
    // The token endpoint down-scopes the same way.
    let token = crate::helpers::api_token(&world.app, &owner, "repo:read").await;
    let basic = Cred::User(token).basic();
    let (status, body) = world
        .call(
            Method::GET,
            "/v2/auth?service=x&scope=repository:acme/app:pull,push",
            basic,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let jwt = body["token"].as_str().expect("token").to_owned();
    let bearer = Some(format!("Bearer {jwt}"));
    let (pull, _) = world
        .call(Method::GET, "/v2/acme/app/manifests/v1", bearer.clone(), None)
        .await;
    assert_eq!(pull, StatusCode::OK);
    let (push, _) = world
        .call(
            Method::PUT,
            "/v2/acme/app/manifests/by-read-token",
            bearer,
            Some((OCI_MANIFEST, world.manifest.clone())),
        )
        .await;
    assert_eq!(push, StatusCode::UNAUTHORIZED, "a pull-only registry token cannot push");
}
