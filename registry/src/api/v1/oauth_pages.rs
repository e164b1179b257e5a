//! The server-rendered pages of the OAuth flows: the consent page of
//! `/oauth/authorize`, the page that shows a generated token, and short
//! messages. Every value from a request or the database is escaped.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

use crate::service::oauth::ScopeInfo;

/// What the consent form posts back.
pub(super) struct ConsentForm<'a> {
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub scope: &'a str,
    pub response_type: &'a str,
    pub state: Option<&'a str>,
    pub assignment_uuid: Option<&'a str>,
    pub csrf_token: &'a str,
}

/// The application asking, as the consent page names it.
pub(super) struct ConsentApp<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub url: &'a str,
    pub organization: &'a str,
    pub username: &'a str,
}

fn page(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title></head>\n<body>\n{body}\n</body></html>\n",
        text(title)
    );
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Frame-Options", "DENY"))
        .body(html)
}

/// A page with one message.
pub(super) fn message(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    page(
        status,
        title,
        &format!("<h1>{}</h1>\n<p>{}</p>", text(title), text(message)),
    )
}

fn hidden(name: &str, value: &str) -> String {
    format!("<input type=\"hidden\" name=\"{name}\" value=\"{}\">", attr(value))
}

fn hidden_fields(form: &ConsentForm<'_>) -> String {
    let mut fields = vec![
        hidden("client_id", form.client_id),
        hidden("redirect_uri", form.redirect_uri),
        hidden("scope", form.scope),
        hidden("response_type", form.response_type),
        hidden("_csrf_token", form.csrf_token),
    ];
    if let Some(state) = form.state {
        fields.push(hidden("state", state));
    }
    if let Some(uuid) = form.assignment_uuid {
        fields.push(hidden("assignment_uuid", uuid));
    }
    fields.join("\n")
}

/// Asks the signed-in user to authorize the application for the scopes.
pub(super) fn consent(app: &ConsentApp<'_>, scopes: &[ScopeInfo], form: &ConsentForm<'_>) -> HttpResponse {
    let items: Vec<String> = scopes
        .iter()
        .map(|s| {
            let warn = if s.dangerous {
                " <strong>(dangerous)</strong>"
            } else {
                ""
            };
            format!(
                "<li data-scope=\"{}\"><b>{}</b>{warn}<br>{}</li>",
                attr(s.scope),
                text(s.title),
                text(s.description)
            )
        })
        .collect();
    let link = if app.url.is_empty() {
        String::new()
    } else {
        format!(
            "<p><a href=\"{}\" rel=\"noopener\">{}</a></p>",
            attr(app.url),
            text(app.url)
        )
    };
    let fields = hidden_fields(form);
    let body = format!(
        "<h1>Authorize {name}</h1>\n\
         <p>The application <b>{name}</b> of organization <b>{org}</b> asks for access to the account \
         <b>{user}</b>.</p>\n<p>{description}</p>\n{link}\
         <ul id=\"scopes\">\n{items}\n</ul>\n\
         <form id=\"authorize\" method=\"post\" action=\"/oauth/authorizeapp\">\n{fields}\n\
         <button type=\"submit\">Authorize application</button>\n</form>\n\
         <form id=\"deny\" method=\"post\" action=\"/oauth/denyapp\">\n{fields}\n\
         <button type=\"submit\">Cancel</button>\n</form>",
        name = text(app.name),
        org = text(app.organization),
        user = text(app.username),
        description = text(app.description),
        items = items.join("\n"),
    );
    page(StatusCode::OK, &format!("Authorize {}", app.name), &body)
}

/// The registry's own redirect target for "Generate Token": shows the
/// token the implicit grant put in the URL fragment (which never reaches
/// the server, so a few lines of script read it).
pub(super) fn generated_token() -> HttpResponse {
    const BODY: &str = "<h1>Access token generated</h1>\n\
        <p>Your access token was generated. Copy it now: it is not shown again.</p>\n\
        <pre id=\"token\"></pre>\n\
        <script>\n\
        var p = new URLSearchParams(window.location.hash.substring(1));\n\
        document.getElementById('token').textContent = p.get('access_token') || '';\n\
        </script>";
    page(StatusCode::OK, "Access token generated", BODY)
}
