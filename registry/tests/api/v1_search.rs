//! Search: `GET /api/v1/entities/{prefix}`, `/find/all` and
//! `/find/repositories` (Quay's `endpoints/api/search.py`). Robots, teams
//! and private repositories show only to those allowed to see them.

use serde_json::Value;

use crate::helpers::RepoFixture;

fn names(body: &Value) -> Vec<String> {
    body["results"]
        .as_array()
        .unwrap_or_else(|| panic!("results list: {body}"))
        .iter()
        .map(|r| r["name"].as_str().expect("name").to_owned())
        .collect()
}

fn find<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["results"]
        .as_array()
        .and_then(|l| l.iter().find(|r| r["name"] == name))
        .unwrap_or_else(|| panic!("{name} not in {body}"))
}

/// alice owns org `acme` with robot `acme+deployer` and team `devops`
/// (bob is in it); carol is an outsider. Returns the fixture and tokens
/// (alice, bob, carol).
async fn world() -> (RepoFixture, String, String, String) {
    let f = RepoFixture::new().await;
    let (alice, alice_t) = f.user("alice").await;
    let (_, bob_t) = f.user("bob").await;
    let (_, carol_t) = f.user("carol").await;
    let (_, _) = f.user("alicia").await;
    let acme = f.org(&alice, "acme").await;
    f.robot(&acme, "deployer").await;
    f.robot(&alice, "mybot").await;
    f.team(&alice, &acme, "devops", "member", &["bob"]).await;
    (f, alice_t, bob_t, carol_t)
}

#[actix_web::test]
async fn entity_search_finds_users_by_prefix_with_the_exact_match_first() {
    let (f, _, _, carol) = world().await;
    let (status, body) = f.call("GET", "/entities/ali", Some(&carol), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(names(&body), ["alice", "alicia"]);
    let alice = find(&body, "alice");
    assert_eq!(alice["kind"], "user");
    assert_eq!(alice["is_robot"], false);
    assert_eq!(alice["avatar"]["name"], "alice");
    assert!(
        alice.get("is_org_member").is_none(),
        "no namespace, no membership: {alice}"
    );

    // The exact name comes first even when others sort before it.
    let (_, body) = f.call("GET", "/entities/alicia", Some(&carol), None).await;
    assert_eq!(names(&body), ["alicia"]);
    // Case and spaces do not matter; organizations are not users.
    let (_, body) = f.call("GET", "/entities/%20ALI", None, None).await;
    assert_eq!(names(&body), ["alice", "alicia"]);
    let (_, body) = f.call("GET", "/entities/acme", Some(&carol), None).await;
    assert_eq!(names(&body), Vec::<String>::new());
    let (_, body) = f.call("GET", "/entities/nobody", Some(&carol), None).await;
    assert_eq!(names(&body), Vec::<String>::new());
}

#[actix_web::test]
async fn org_members_see_its_robots_and_teams_and_outsiders_do_not() {
    let (f, alice, bob, carol) = world().await;
    let path = "/entities/de?namespace=acme&includeTeams=true";
    let (status, body) = f.call("GET", path, Some(&bob), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(names(&body), ["devops", "acme+deployer"], "{body}");
    assert_eq!(find(&body, "devops")["kind"], "team");
    assert_eq!(find(&body, "acme+deployer")["is_robot"], true);
    assert_eq!(find(&body, "acme+deployer")["is_org_member"], true);

    // An outsider, or nobody, sees neither.
    for token in [Some(carol.as_str()), None] {
        let (status, body) = f.call("GET", path, token, None).await;
        assert_eq!(status, 200);
        assert_eq!(names(&body), Vec::<String>::new(), "{body}");
    }
    // Users are marked with their membership of the namespace.
    let (_, body) = f.call("GET", "/entities/b?namespace=acme", Some(&alice), None).await;
    assert_eq!(find(&body, "bob")["is_org_member"], true);
    let (_, body) = f.call("GET", "/entities/car?namespace=acme", Some(&alice), None).await;
    assert_eq!(find(&body, "carol")["is_org_member"], false);
}

#[actix_web::test]
async fn include_orgs_lists_the_organization_to_its_admins_only() {
    let (f, alice, bob, _) = world().await;
    let path = "/entities/ac?namespace=acme&includeOrgs=true";
    let (_, body) = f.call("GET", path, Some(&alice), None).await;
    assert_eq!(names(&body), ["acme"], "{body}");
    assert_eq!(find(&body, "acme")["kind"], "org");
    let (_, body) = f.call("GET", path, Some(&bob), None).await;
    assert_eq!(names(&body), Vec::<String>::new(), "a plain member is no admin: {body}");
}

#[actix_web::test]
async fn own_robots_show_in_the_own_namespace_only_to_oneself() {
    let (f, alice, _, carol) = world().await;
    let (_, body) = f.call("GET", "/entities/my?namespace=alice", Some(&alice), None).await;
    assert_eq!(names(&body), ["alice+mybot"], "{body}");
    let (_, body) = f.call("GET", "/entities/my?namespace=alice", Some(&carol), None).await;
    assert_eq!(names(&body), Vec::<String>::new(), "{body}");
}

#[actix_web::test]
async fn repository_search_shows_readable_repositories_only() {
    let (f, alice, bob, carol) = world().await;
    f.create_repo(&alice, "acme", "webapp", "private").await;
    f.create_repo(&alice, "acme", "webtools", "public").await;
    f.create_repo(&alice, "alice", "notes", "private").await;
    let (_, body) = f
        .call(
            "PUT",
            "/repository/acme/webapp",
            Some(&alice),
            Some(serde_json::json!({"description": "The shop front"})),
        )
        .await;
    assert_eq!(body["success"], true, "{body}");
    f.push_tag("acme/webtools", "latest").await;

    let (status, body) = f.call("GET", "/find/repositories?query=web", Some(&alice), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(names(&body), ["webapp", "webtools"]);
    assert_eq!(body["page"], 1);
    assert_eq!(body["page_size"], 10);
    assert_eq!(body["has_additional"], false);
    let tools = find(&body, "webtools");
    assert_eq!(tools["kind"], "repository");
    assert_eq!(tools["namespace"]["name"], "acme");
    assert_eq!(tools["namespace"]["kind"], "organization");
    assert_eq!(tools["is_public"], true);
    assert_eq!(tools["href"], "/repository/acme/webtools");
    assert!(tools["last_modified"].is_i64(), "{tools}");
    assert_eq!(tools["stars"], 0);

    // The description matches too, case aside.
    let (_, body) = f.call("GET", "/find/repositories?query=SHOP", Some(&alice), None).await;
    assert_eq!(names(&body), ["webapp"]);
    // `namespace/name` narrows to the namespace.
    let (_, body) = f
        .call("GET", "/find/repositories?query=alice/no", Some(&alice), None)
        .await;
    assert_eq!(names(&body), ["notes"]);

    // Others see the public one only: bob's team has no role on webapp.
    for token in [Some(bob.as_str()), Some(carol.as_str()), None] {
        let (status, body) = f.call("GET", "/find/repositories?query=web", token, None).await;
        assert_eq!(status, 200);
        assert_eq!(names(&body), ["webtools"], "{body}");
    }
    let (status, body) = f.call("GET", "/find/repositories?query=web&page=x", None, None).await;
    assert_eq!(status, 400, "{body}");
}

#[actix_web::test]
async fn repository_search_pages_by_ten() {
    let f = RepoFixture::new().await;
    let (_, t) = f.user("alice").await;
    for i in 0..12 {
        f.create_repo(&t, "alice", &format!("svc{i:02}"), "public").await;
    }
    let (_, first) = f.call("GET", "/find/repositories?query=svc", Some(&t), None).await;
    assert_eq!(names(&first).len(), 10);
    assert_eq!(first["has_additional"], true);
    let (_, second) = f
        .call("GET", "/find/repositories?query=svc&page=2", Some(&t), None)
        .await;
    assert_eq!(second["start_index"], 10);
    assert_eq!(second["has_additional"], false);
    let mut all = names(&first);
    all.extend(names(&second));
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 12, "every repository once: {all:?}");
}

#[actix_web::test]
async fn the_search_box_finds_teams_robots_repositories_and_namespaces() {
    let (f, alice, bob, carol) = world().await;
    f.create_repo(&alice, "acme", "devtools", "private").await;
    f.create_repo(&alice, "acme", "public-dev", "public").await;

    let (status, body) = f.call("GET", "/find/all?query=de", Some(&alice), None).await;
    assert_eq!(status, 200, "{body}");
    let found = names(&body);
    for expected in ["devops", "acme+deployer", "devtools", "public-dev"] {
        assert!(found.contains(&expected.to_owned()), "{expected} in {found:?}");
    }
    let robot = find(&body, "acme+deployer");
    assert_eq!(robot["kind"], "robot");
    assert_eq!(robot["short_name"], "deployer");
    assert_eq!(robot["href"], "/organization/acme?tab=robots&showRobot=acme+deployer");
    assert_eq!(find(&body, "devops")["organization"]["name"], "acme");
    let scores: Vec<f64> = body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["score"].as_f64().expect("score"))
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "best first: {scores:?}");

    // bob is in devops but administers nothing: no robots, no private repo.
    let (_, body) = f.call("GET", "/find/all?query=de", Some(&bob), None).await;
    let found = names(&body);
    assert!(found.contains(&"devops".to_owned()), "{found:?}");
    assert!(!found.contains(&"acme+deployer".to_owned()), "{found:?}");
    assert!(!found.contains(&"devtools".to_owned()), "{found:?}");

    // Robots of the own namespace too, for their owner only.
    let (_, body) = f.call("GET", "/find/all?query=my", Some(&alice), None).await;
    assert_eq!(find(&body, "alice+mybot")["kind"], "robot", "{body}");
    let (_, body) = f.call("GET", "/find/all?query=my", Some(&bob), None).await;
    assert!(!names(&body).contains(&"alice+mybot".to_owned()), "{body}");

    // Outsiders and nobody find public things only; namespaces show when
    // they hold something the searcher may read.
    for token in [Some(carol.as_str()), None] {
        let (_, body) = f.call("GET", "/find/all?query=de", token, None).await;
        assert_eq!(names(&body), ["public-dev"], "{body}");
        let (_, body) = f.call("GET", "/find/all?query=acm", token, None).await;
        assert_eq!(names(&body), ["acme"], "{body}");
        assert_eq!(find(&body, "acme")["kind"], "organization");
    }
    let (_, body) = f.call("GET", "/find/all?query=", Some(&alice), None).await;
    assert_eq!(names(&body), Vec::<String>::new());

    // A token without a repo: scope may not search.
    let alice_acct = f.services.account("alice").await.expect("lookup").expect("alice");
    let narrow = f.token(&alice_acct, "user:read").await;
    let (status, _) = f.call("GET", "/find/all?query=de", Some(&narrow), None).await;
    assert_eq!(status, 403);
}
