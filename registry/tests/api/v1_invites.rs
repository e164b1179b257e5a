//! Team invitations (quay-api.md §1.4): with mailing on, adding a user who
//! is not in the organization invites them by mail; they accept or decline
//! with the code. Mail goes to a real SMTP sink on 127.0.0.1.

use serde_json::json;

use crate::helpers::{RepoFixture, SentMail, SmtpSink};

const DEVS: &str = "/organization/acme/team/devs";

/// `owner` owns `acme` with teams `devs` (empty) and `readers` (carol);
/// bob (bob@example.com) is in no team. `mail_yaml` names the SMTP server
/// (normally `sink`'s).
struct Org {
    f: RepoFixture,
    sink: SmtpSink,
    owner: String,
    bob: String,
    carol: String,
    org: registry::db::models::Account,
}

async fn org_with(sink: SmtpSink, mail_yaml: &str) -> Org {
    let f = RepoFixture::with_config(mail_yaml).await;
    let (owner_account, owner) = f.user("owner").await;
    let (_, bob) = f.user("bob").await;
    let (_, carol) = f.user("carol").await;
    let org = f.org(&owner_account, "acme").await;
    f.team(&owner_account, &org, "devs", "member", &[]).await;
    f.team(&owner_account, &org, "readers", "member", &["carol"]).await;
    Org {
        f,
        sink,
        owner,
        bob,
        carol,
        org,
    }
}

async fn org() -> Org {
    let sink = SmtpSink::start().await;
    let config = sink.config();
    org_with(sink, &config).await
}

/// The invitation code a mail carries (the line after "Invitation code:").
fn code_in(mail: &SentMail) -> String {
    let text = mail.text();
    let mut lines = text.lines().skip_while(|l| !l.starts_with("Invitation code:"));
    lines
        .nth(1)
        .map(|l| l.trim().to_owned())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| panic!("no invitation code in {text}"))
}

/// Names (users) and emails (address invitations) listed for `devs`.
async fn devs(f: &RepoFixture, token: &str, pending: bool) -> Vec<(String, bool)> {
    let path = format!("{DEVS}/members{}", if pending { "?includePending=true" } else { "" });
    let (status, list) = f.call("GET", &path, Some(token), None).await;
    assert_eq!(status, 200, "{list}");
    list["members"]
        .as_array()
        .unwrap_or_else(|| panic!("no members in {list}"))
        .iter()
        .map(|m| {
            let name = m["name"].as_str().or(m["email"].as_str()).unwrap_or_default();
            (name.to_owned(), m["invited"] == true)
        })
        .collect()
}

async fn invite_bob(o: &Org) -> String {
    let (status, member) =
        o.f.call("PUT", &format!("{DEVS}/members/bob"), Some(&o.owner), None)
            .await;
    assert_eq!(status, 200, "{member}");
    assert_eq!(member["invited"], true, "{member}");
    let mails = o.sink.mails();
    let mail = mails.last().unwrap_or_else(|| panic!("no mail sent"));
    code_in(mail)
}

#[actix_web::test]
async fn a_user_outside_the_org_is_invited_by_mail_and_joins_by_accepting_the_code() {
    let o = org().await;
    let (status, member) =
        o.f.call("PUT", &format!("{DEVS}/members/bob"), Some(&o.owner), None)
            .await;
    assert_eq!(status, 200, "{member}");
    assert_eq!(
        (
            &member["name"],
            &member["kind"],
            &member["is_robot"],
            &member["invited"]
        ),
        (&json!("bob"), &json!("user"), &json!(false), &json!(true))
    );

    let mails = o.sink.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let mail = &mails[0];
    assert_eq!(mail.to, ["bob@example.com"]);
    assert_eq!(mail.from, "registry@localhost");
    let text = mail.text();
    assert!(text.contains("Subject: Invitation to join team acme/devs"), "{text}");
    let code = code_in(mail);
    assert!(code.len() >= 32, "{code}");
    assert!(
        text.contains(&format!("{}/confirminvite?code={code}", o.f.app.address)),
        "the link carries the code: {text}"
    );

    assert!(devs(&o.f, &o.owner, false).await.is_empty(), "not a member yet");
    assert_eq!(devs(&o.f, &o.owner, true).await, [("bob".to_owned(), true)]);
    assert_eq!(
        o.f.call("GET", &format!("{DEVS}/members"), Some(&o.bob), None).await.0,
        403
    );

    let accept = format!("/teaminvite/{code}");
    let (status, joined) = o.f.call("PUT", &accept, Some(&o.bob), None).await;
    assert_eq!((status, joined), (200, json!({"org": "acme", "team": "devs"})));
    assert_eq!(devs(&o.f, &o.owner, true).await, [("bob".to_owned(), false)]);
    assert_eq!(
        o.f.call("GET", &format!("{DEVS}/members"), Some(&o.bob), None).await.0,
        200
    );
    assert_eq!(
        o.f.call("PUT", &accept, Some(&o.bob), None).await.0,
        400,
        "a code works once"
    );
}

#[actix_web::test]
async fn org_members_and_robots_are_added_directly_without_mail() {
    let o = org().await;
    o.f.robot(&o.org, "ci").await;
    for who in ["carol", "acme+ci"] {
        let (status, member) =
            o.f.call("PUT", &format!("{DEVS}/members/{who}"), Some(&o.owner), None)
                .await;
        assert_eq!(status, 200, "{member}");
        assert_eq!(member["invited"], false, "{member}");
    }
    assert_eq!(
        devs(&o.f, &o.owner, true).await,
        [("acme+ci".to_owned(), false), ("carol".to_owned(), false)]
    );
    assert!(o.sink.mails().is_empty());
}

#[actix_web::test]
async fn an_invitation_to_one_user_cannot_be_used_by_another() {
    let o = org().await;
    let code = invite_bob(&o).await;
    let path = format!("/teaminvite/{code}");
    for method in ["PUT", "DELETE"] {
        let (status, error) = o.f.call(method, &path, Some(&o.carol), None).await;
        assert_eq!(status, 400, "{method}: {error}");
        assert_eq!(error["error_type"], "invalid_request");
    }
    let (_, error) = o.f.call("PUT", &path, Some(&o.carol), None).await;
    assert!(
        error["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("intended for user \"bob\""),
        "{error}"
    );
    assert_eq!(
        devs(&o.f, &o.owner, true).await,
        [("bob".to_owned(), true)],
        "still pending"
    );
}

#[actix_web::test]
async fn unknown_codes_anonymous_callers_and_tokens_without_user_admin_are_refused() {
    let o = org().await;
    let code = invite_bob(&o).await;
    for method in ["PUT", "DELETE"] {
        let (status, _) = o.f.call(method, "/teaminvite/not-a-code", Some(&o.bob), None).await;
        assert_eq!(status, 400, "{method} unknown code");
        let path = format!("/teaminvite/{code}");
        assert_eq!(o.f.call(method, &path, None, None).await.0, 401, "{method} anonymous");
    }
    let bob = o.f.services.account("bob").await.ok().flatten().expect("bob exists");
    let narrow = o.f.token(&bob, "repo:read").await;
    assert_eq!(
        o.f.call("PUT", &format!("/teaminvite/{code}"), Some(&narrow), None)
            .await
            .0,
        403
    );
    assert_eq!(
        devs(&o.f, &o.owner, true).await,
        [("bob".to_owned(), true)],
        "still pending"
    );
}

#[actix_web::test]
async fn the_invited_user_declines_and_the_invitation_is_gone() {
    let o = org().await;
    let code = invite_bob(&o).await;
    let path = format!("/teaminvite/{code}");
    assert_eq!(o.f.call("DELETE", &path, Some(&o.bob), None).await.0, 204);
    assert!(devs(&o.f, &o.owner, true).await.is_empty());
    assert_eq!(o.f.call("PUT", &path, Some(&o.bob), None).await.0, 400);
}

#[actix_web::test]
async fn removing_a_pending_member_withdraws_the_invitation() {
    let o = org().await;
    let code = invite_bob(&o).await;
    assert_eq!(
        o.f.call("DELETE", &format!("{DEVS}/members/bob"), Some(&o.owner), None)
            .await
            .0,
        204
    );
    assert!(devs(&o.f, &o.owner, true).await.is_empty());
    assert_eq!(
        o.f.call("PUT", &format!("/teaminvite/{code}"), Some(&o.bob), None)
            .await
            .0,
        400
    );
    let again =
        o.f.call("DELETE", &format!("{DEVS}/members/bob"), Some(&o.owner), None)
            .await;
    assert_eq!(again.0, 400, "neither invited nor a member: {}", again.1);
}

#[actix_web::test]
async fn inviting_again_resends_the_same_code() {
    let o = org().await;
    let first = invite_bob(&o).await;
    let second = invite_bob(&o).await;
    assert_eq!(first, second);
    assert_eq!(o.sink.mails().len(), 2);
    assert_eq!(devs(&o.f, &o.owner, true).await, [("bob".to_owned(), true)]);
}

#[actix_web::test]
async fn an_email_address_is_invited_and_whoever_holds_the_code_joins() {
    let o = org().await;
    let path = format!("{DEVS}/invite/new@example.com");
    let (status, invite) = o.f.call("PUT", &path, Some(&o.owner), None).await;
    assert_eq!(status, 200, "{invite}");
    assert_eq!(
        (&invite["email"], &invite["kind"], &invite["invited"]),
        (&json!("new@example.com"), &json!("invite"), &json!(true))
    );
    let mails = o.sink.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, ["new@example.com"]);
    assert_eq!(devs(&o.f, &o.owner, true).await, [("new@example.com".to_owned(), true)]);

    let (_, newbie) = o.f.user("newbie").await;
    let (status, joined) =
        o.f.call(
            "PUT",
            &format!("/teaminvite/{}", code_in(&mails[0])),
            Some(&newbie),
            None,
        )
        .await;
    assert_eq!((status, joined), (200, json!({"org": "acme", "team": "devs"})));
    assert_eq!(devs(&o.f, &o.owner, true).await, [("newbie".to_owned(), false)]);
}

#[actix_web::test]
async fn inviting_the_address_of_an_existing_user_invites_that_user() {
    let o = org().await;
    let path = format!("{DEVS}/invite/bob@example.com");
    let (status, invite) = o.f.call("PUT", &path, Some(&o.owner), None).await;
    assert_eq!(status, 200, "{invite}");
    assert_eq!((&invite["name"], &invite["invited"]), (&json!("bob"), &json!(true)));
    assert_eq!(devs(&o.f, &o.owner, true).await, [("bob".to_owned(), true)]);
    let code = code_in(&o.sink.mails()[0]);
    let (status, _) =
        o.f.call("PUT", &format!("/teaminvite/{code}"), Some(&o.carol), None)
            .await;
    assert_eq!(status, 400, "the invitation is bob's");

    assert_eq!(o.f.call("DELETE", &path, Some(&o.owner), None).await.0, 204);
    assert!(devs(&o.f, &o.owner, true).await.is_empty());
    assert_eq!(o.f.call("DELETE", &path, Some(&o.owner), None).await.0, 404);
}

#[actix_web::test]
async fn email_invitations_need_an_admin_a_valid_address_and_no_existing_membership() {
    let o = org().await;
    let invite = |who: &str| format!("{DEVS}/invite/{who}");
    assert_eq!(o.f.call("PUT", &invite("x@example.com"), None, None).await.0, 401);
    assert_eq!(
        o.f.call("PUT", &invite("x@example.com"), Some(&o.carol), None).await.0,
        403
    );
    assert_eq!(
        o.f.call("DELETE", &invite("x@example.com"), Some(&o.carol), None)
            .await
            .0,
        403
    );
    assert_eq!(
        o.f.call("PUT", &invite("not-an-address"), Some(&o.owner), None).await.0,
        400
    );
    let ghost = "/organization/acme/team/ghosts/invite/x@example.com";
    assert_eq!(o.f.call("PUT", ghost, Some(&o.owner), None).await.0, 404);
    let readers = "/organization/acme/team/readers/invite/carol@example.com";
    assert_eq!(
        o.f.call("PUT", readers, Some(&o.owner), None).await.0,
        400,
        "carol is in readers"
    );
    assert!(o.sink.mails().is_empty());

    // A plain member sees the members but not the pending invitations.
    invite_bob(&o).await;
    let carol_in_devs =
        o.f.call("PUT", &format!("{DEVS}/members/carol"), Some(&o.owner), None)
            .await;
    assert_eq!(carol_in_devs.0, 200);
    assert_eq!(devs(&o.f, &o.carol, true).await, [("carol".to_owned(), false)]);
}

#[actix_web::test]
async fn without_mailing_users_are_added_directly_and_email_invitations_are_refused() {
    let f = RepoFixture::new().await;
    let (owner_account, owner) = f.user("owner").await;
    f.user("bob").await;
    let org = f.org(&owner_account, "acme").await;
    f.team(&owner_account, &org, "devs", "member", &[]).await;

    let (status, member) = f.call("PUT", &format!("{DEVS}/members/bob"), Some(&owner), None).await;
    assert_eq!((status, &member["invited"]), (200, &json!(false)), "{member}");
    let (status, error) = f
        .call("PUT", &format!("{DEVS}/invite/x@example.com"), Some(&owner), None)
        .await;
    assert_eq!(status, 400, "{error}");
}

#[actix_web::test]
async fn with_team_invites_not_required_users_are_added_directly() {
    let sink = SmtpSink::start().await;
    let config = format!("{}FEATURE_REQUIRE_TEAM_INVITE: false\n", sink.config());
    let o = org_with(sink, &config).await;
    let (status, member) =
        o.f.call("PUT", &format!("{DEVS}/members/bob"), Some(&o.owner), None)
            .await;
    assert_eq!((status, &member["invited"]), (200, &json!(false)), "{member}");
    assert!(o.sink.mails().is_empty());
    // Email addresses can still be invited.
    let (status, _) =
        o.f.call("PUT", &format!("{DEVS}/invite/x@example.com"), Some(&o.owner), None)
            .await;
    assert_eq!(status, 200);
    assert_eq!(o.sink.mails().len(), 1);
}

#[actix_web::test]
async fn a_failed_mail_keeps_the_invitation_and_inviting_again_sends_it() {
    // A port nobody listens on yet: the first send is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let unused = SmtpSink::start().await;
    let o = org_with(unused, &format!("MAIL_SERVER: 127.0.0.1\nMAIL_PORT: {port}\n")).await;
    let (status, member) =
        o.f.call("PUT", &format!("{DEVS}/members/bob"), Some(&o.owner), None)
            .await;
    assert_eq!((status, &member["invited"]), (200, &json!(true)), "{member}");
    assert_eq!(devs(&o.f, &o.owner, true).await, [("bob".to_owned(), true)]);

    let sink = SmtpSink::start_on(port).await;
    let (status, _) =
        o.f.call("PUT", &format!("{DEVS}/members/bob"), Some(&o.owner), None)
            .await;
    assert_eq!(status, 200);
    let mails = sink.mails();
    assert_eq!(mails.len(), 1, "the second invite sends the mail");
    let code = code_in(&mails[0]);
    let (status, _) =
        o.f.call("PUT", &format!("/teaminvite/{code}"), Some(&o.bob), None)
            .await;
    assert_eq!(status, 200);
    assert_eq!(devs(&o.f, &o.owner, true).await, [("bob".to_owned(), false)]);
}
