//! Authorized emails: an address receives a repository's `email`
//! notifications only after it confirmed a mailed code
//! (`POST /api/v1/repository/{repo}/authorizedemail/{email}`, then the
//! link `/authrepoemail?code=…`).

use super::{invalid, AuthorizedEmail};
use crate::db::queries::notifications as q;
use crate::db::queries::repositories::RepositoryView;
use crate::service::mail::Mail;
use crate::service::{Error, Registry};

impl Registry {
    pub async fn authorized_email(&self, repo: &RepositoryView, email: &str) -> Result<Option<AuthorizedEmail>, Error> {
        let (repo_id, address) = (repo.id, email.to_owned());
        let row = self
            .db()
            .read(move |c| Ok(q::authorized_email(c, repo_id, &address)?))
            .await?;
        Ok(row.map(|(_, confirmed)| AuthorizedEmail {
            email: email.to_owned(),
            confirmed,
        }))
    }

    /// Starts authorizing `email` for the repository: mails it a
    /// confirmation link (`/authrepoemail?code=…`) unless already confirmed.
    pub async fn authorize_email(&self, repo: &RepositoryView, email: &str) -> Result<AuthorizedEmail, Error> {
        if email.parse::<lettre::Address>().is_err() {
            return Err(invalid(format!("Invalid email address '{email}'")));
        }
        let mailer = self
            .notification_policy()
            .mailer
            .clone()
            .ok_or_else(|| invalid("Mailing is not configured (FEATURE_MAILING, MAIL_SERVER)"))?;
        let (repo_id, address, fresh) = (repo.id, email.to_owned(), crate::service::random_token(40));
        let (code, confirmed) = self
            .db()
            .write(move |c| Ok::<_, Error>(q::ensure_authorized_email(c, repo_id, &address, &fresh)?))
            .await?;
        if !confirmed {
            let policy = self.notification_policy();
            let link = format!(
                "{}://{}/authrepoemail?code={code}",
                policy.url_scheme, policy.server_hostname
            );
            let mail = Mail {
                to: email.to_owned(),
                subject: format!(
                    "Verify e-mail to receive notifications for {}/{}",
                    repo.namespace, repo.name
                ),
                body: format!(
                    "Confirm that {email} may receive notifications of repository {}/{} by opening:\n\n{link}\n",
                    repo.namespace, repo.name
                ),
            };
            if let Err(e) = mailer.send(&mail).await {
                tracing::warn!(error = %e, "could not send the email authorization mail");
            }
        }
        Ok(AuthorizedEmail {
            email: email.to_owned(),
            confirmed,
        })
    }

    /// Confirms an authorization by its mailed code; returns the repository
    /// (`ns/name`) and address.
    pub async fn confirm_authorized_email(&self, code: &str) -> Result<(String, String), Error> {
        let code = code.to_owned();
        self.db()
            .write(move |c| {
                let Some((repo_id, email)) = q::confirm_email(c, &code)? else {
                    return Err(invalid("Invalid or unknown confirmation code"));
                };
                let (ns, name) = q::repository_names(c, repo_id)?.unwrap_or_default();
                Ok((format!("{ns}/{name}"), email))
            })
            .await
    }
}
