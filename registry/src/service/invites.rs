//! Team invitations. With mailing on and `FEATURE_REQUIRE_TEAM_INVITE`,
//! adding a user who is in none of the organization's teams invites them
//! instead: a pending row with a random code, mailed to them, that they
//! accept (joining the team) or decline. Robots and users already in the
//! organization are added directly. Email addresses can be invited too.
//!
//! The mail is sent after the invitation is committed. A failed send is
//! logged and the invitation stays pending: admins still see it among the
//! team's pending members, and inviting the same user or address again
//! sends the mail again with the same code.

use super::accounts::random_token;
use super::mail::{Mail, Mailer};
use super::teams::{join_team, Team};
use super::{Error, Registry};
use crate::config::Config;
use crate::db::models::Account;
use crate::db::queries::accounts as aq;
use crate::db::queries::invites::{self as q, Invite, NewInvite};
use crate::db::queries::teams as tq;
use crate::db::DbConn;

/// Length of an invitation code (letters and digits).
const CODE_LEN: usize = 48;

/// How users join teams: directly, or by a mailed invitation.
#[derive(Debug, Clone, Default)]
pub struct InvitePolicy {
    mailer: Option<Mailer>,
    require_team_invite: bool,
}

impl InvitePolicy {
    /// `FEATURE_MAILING` (with `MAIL_*`) and `FEATURE_REQUIRE_TEAM_INVITE`
    /// (default on).
    pub fn from_config(config: &Config) -> InvitePolicy {
        InvitePolicy {
            mailer: Mailer::from_config(config),
            require_team_invite: config.feature("REQUIRE_TEAM_INVITE", true),
        }
    }

    /// Whether mail can be sent at all.
    pub fn mailing(&self) -> bool {
        self.mailer.is_some()
    }

    fn invites_users(&self) -> bool {
        self.mailing() && self.require_team_invite
    }
}

/// What adding someone to a team did.
#[derive(Debug, Clone)]
pub enum TeamAddition {
    Added(Account),
    Invited(Account),
}

/// A pending invitation: to a user, or to an email address.
#[derive(Debug, Clone)]
pub enum PendingInvite {
    User(Account),
    Email(String),
}

/// The team an invitation was for (joined when accepted).
#[derive(Debug, Clone)]
pub struct JoinedTeam {
    pub org: String,
    pub team: String,
    /// The username of who invited, for the usage log.
    pub inviter: String,
}

/// The team, organization and inviter of an invitation.
fn joined(c: &mut DbConn, invite: &Invite) -> Result<JoinedTeam, Error> {
    let (team, org) = q::team_and_org(c, invite.team_id)?;
    let inviter = aq::find_by_id(c, invite.inviter_id)?
        .map(|a| a.username)
        .unwrap_or_default();
    Ok(JoinedTeam { org, team, inviter })
}

/// Who sends an invitation, to which team, and where its link points.
pub struct InviteContext<'a> {
    pub policy: &'a InvitePolicy,
    pub inviter: &'a Account,
    pub org: &'a Account,
    pub team: &'a Team,
    /// `scheme://host` of the registry, for the link in the mail.
    pub link_base: &'a str,
}

fn invalid_code() -> Error {
    Error::InvalidRequest("Invalid confirmation code.".into())
}

/// The user's (or address's) pending invitation to the team, or a new one.
fn invitation(c: &mut DbConn, ctx: (i64, i64), user: Option<&Account>, email: Option<&str>) -> Result<Invite, Error> {
    let (team_id, inviter_id) = ctx;
    let existing = match (user, email) {
        (Some(u), _) => q::find_for_user(c, team_id, u.id)?,
        (None, Some(e)) => q::find_for_email(c, team_id, e)?,
        (None, None) => None,
    };
    if let Some(invite) = existing {
        return Ok(invite);
    }
    let token = random_token(CODE_LEN);
    let row = NewInvite {
        user_id: user.map(|u| u.id),
        email: if user.is_some() { None } else { email },
        team_id,
        inviter_id,
        token: &token,
        now: crate::now_ms(),
    };
    Ok(q::insert(c, &row)?)
}

fn check_email(email: &str) -> Result<(), Error> {
    let ok = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !email.contains(char::is_whitespace)
    });
    match ok {
        true => Ok(()),
        false => Err(Error::InvalidRequest(format!("Invalid email address: {email}"))),
    }
}

impl Registry {
    /// Adds a user or robot to the team, or invites a user who is in none
    /// of the organization's teams when the policy asks for invitations.
    pub async fn add_or_invite_team_member(
        &self,
        ctx: &InviteContext<'_>,
        member: &str,
    ) -> Result<TeamAddition, Error> {
        let account = self.team_candidate(ctx.org, member).await?;
        if account.robot || !ctx.policy.invites_users() {
            return self.join(ctx.team, account).await.map(TeamAddition::Added);
        }
        let (org_id, team, inviter_id, user) = (ctx.org.id, ctx.team.clone(), ctx.inviter.id, account.clone());
        let code = self
            .db()
            .write(move |c| {
                tq::lock_org(c, org_id)?;
                if !tq::team_names_of(c, org_id, user.id)?.is_empty() {
                    join_team(c, team.id, &team.name, &user)?;
                    return Ok::<_, Error>(None);
                }
                Ok(Some(
                    invitation(c, (team.id, inviter_id), Some(&user), None)?.invite_token,
                ))
            })
            .await?;
        let Some(code) = code else {
            return Ok(TeamAddition::Added(account));
        };
        match account.email.as_deref() {
            Some(to) => self.mail_invite(ctx, to, &account.username, &code).await,
            None => {
                tracing::warn!(user = %account.username, "invited user has no email address; the invitation stays pending")
            }
        }
        Ok(TeamAddition::Invited(account))
    }

    /// Invites an email address to the team (mailing must be on). When a
    /// user has that address, the invitation is that user's.
    pub async fn invite_email(&self, ctx: &InviteContext<'_>, email: &str) -> Result<PendingInvite, Error> {
        if !ctx.policy.mailing() {
            return Err(Error::InvalidRequest(
                "Inviting by email needs mailing (MAIL_SERVER and FEATURE_MAILING)".into(),
            ));
        }
        check_email(email)?;
        let (team, inviter_id, address) = (ctx.team.clone(), ctx.inviter.id, email.to_owned());
        let (user, code) = self
            .db()
            .write(move |c| {
                let user = q::user_by_email(c, &address)?;
                if let Some(u) = &user {
                    if tq::is_member(c, team.id, u.id)? {
                        return Err(Error::InvalidRequest(format!(
                            "User '{}' is already a member of team '{}'",
                            u.username, team.name
                        )));
                    }
                }
                let invite = invitation(c, (team.id, inviter_id), user.as_ref(), Some(&address))?;
                Ok((user, invite.invite_token))
            })
            .await?;
        let who = user.as_ref().map_or(email, |u| u.username.as_str());
        self.mail_invite(ctx, email, who, &code).await;
        Ok(match user {
            Some(u) => PendingInvite::User(u),
            None => PendingInvite::Email(email.to_owned()),
        })
    }

    /// Withdraws the team's invitations sent to `email`; 404 when none.
    pub async fn delete_email_invite(&self, team: &Team, email: &str) -> Result<(), Error> {
        let (team_id, email) = (team.id, email.to_owned());
        self.db()
            .write(move |c| match q::delete_for_email(c, team_id, &email)? {
                true => Ok(()),
                false => Err(Error::NotFound("No pending invitation for that email address".into())),
            })
            .await
    }

    /// The team's pending invitations, oldest first.
    pub async fn pending_invites(&self, team: &Team) -> Result<Vec<PendingInvite>, Error> {
        let team_id = team.id;
        let rows = self.db().read(move |c| Ok(q::pending(c, team_id)?)).await?;
        Ok(rows
            .into_iter()
            .filter_map(|(invite, user)| match (user, invite.email) {
                (Some(u), _) => Some(PendingInvite::User(u)),
                (None, Some(e)) => Some(PendingInvite::Email(e)),
                (None, None) => None,
            })
            .collect())
    }

    /// Accepts an invitation: the user joins the team. An invitation to a
    /// named user is that user's only; one to an email address is anyone's
    /// who holds the code.
    pub async fn accept_team_invite(&self, user: &Account, code: &str) -> Result<JoinedTeam, Error> {
        let (user, code) = (user.clone(), code.to_owned());
        self.db()
            .write(move |c| {
                let invite = q::find_by_token(c, &code)?.ok_or_else(invalid_code)?;
                if let Some(intended) = invite.user_id.filter(|id| *id != user.id) {
                    let name = aq::find_by_id(c, intended)?.map(|a| a.username).unwrap_or_default();
                    return Err(Error::InvalidRequest(format!(
                        "This invite is intended for user \"{name}\". Please login to that account and try again."
                    )));
                }
                if !tq::is_member(c, invite.team_id, user.id)? {
                    aq::add_team_member(c, invite.team_id, user.id)?;
                }
                q::delete(c, invite.id)?;
                joined(c, &invite)
            })
            .await
    }

    /// Declines an invitation, which is then gone.
    pub async fn decline_team_invite(&self, user: &Account, code: &str) -> Result<JoinedTeam, Error> {
        let (user_id, code) = (user.id, code.to_owned());
        self.db()
            .write(move |c| {
                let invite = q::find_by_token(c, &code)?.ok_or_else(invalid_code)?;
                if invite.user_id.is_some_and(|id| id != user_id) {
                    return Err(invalid_code());
                }
                let declined = joined(c, &invite)?;
                q::delete(c, invite.id)?;
                Ok(declined)
            })
            .await
    }

    /// Mails an invitation; a failure is logged, the invitation stays.
    async fn mail_invite(&self, ctx: &InviteContext<'_>, to: &str, who: &str, code: &str) {
        let Some(mailer) = &ctx.policy.mailer else { return };
        let (org, team) = (&ctx.org.username, &ctx.team.name);
        let link = format!("{}/confirminvite?code={code}", ctx.link_base.trim_end_matches('/'));
        let body = format!(
            "{inviter} has invited {who} to join team {team} of organization {org}.\n\n\
             To accept, open this link while signed in:\n{link}\n\n\
             Invitation code:\n{code}\n\n\
             With the API, PUT /api/v1/teaminvite/<code> accepts\n\
             and DELETE /api/v1/teaminvite/<code> declines.\n",
            inviter = ctx.inviter.username,
        );
        let mail = Mail {
            to: to.to_owned(),
            subject: format!("Invitation to join team {org}/{team}"),
            body,
        };
        if let Err(e) = mailer.send(&mail).await {
            tracing::warn!(
                error = %e, org = %org, team = %team, invitee = %who,
                "sending the invitation mail failed; the invitation stays pending and inviting again resends it"
            );
        }
    }
}
