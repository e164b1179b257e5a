//! A stand-in upstream registry for proxy-cache validation tests: just its
//! `/v2/` and token endpoints, in one of three auth modes, on 127.0.0.1:0.

use std::net::TcpListener;

use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine as _;

pub const USER: &str = "upuser";
pub const PASSWORD: &str = "uppass";
const TOKEN: &str = "upstream-token";

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// `/v2/` answers 200 to anyone.
    Anonymous,
    /// `/v2/` asks for Basic auth with `USER`/`PASSWORD`.
    Basic,
    /// `/v2/` asks for a bearer token; the token endpoint wants `USER`/`PASSWORD`.
    Token,
}

/// A running stand-in; `host` is `127.0.0.1:<port>`.
pub struct MockUpstream {
    pub host: String,
}

fn basic_ok(req: &HttpRequest) -> bool {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    req.headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected)
}

async fn v2(req: HttpRequest, auth: web::Data<(Auth, String)>) -> HttpResponse {
    let (mode, host) = auth.get_ref();
    let header = req.headers().get("Authorization").and_then(|v| v.to_str().ok());
    match mode {
        Auth::Anonymous => HttpResponse::Ok().json(serde_json::json!({})),
        Auth::Basic if basic_ok(&req) => HttpResponse::Ok().json(serde_json::json!({})),
        Auth::Basic => HttpResponse::Unauthorized()
            .insert_header(("WWW-Authenticate", r#"Basic realm="Registry Realm""#))
            .finish(),
        Auth::Token if header == Some(&format!("Bearer {TOKEN}")) => HttpResponse::Ok().json(serde_json::json!({})),
        Auth::Token => HttpResponse::Unauthorized()
            .insert_header((
                "WWW-Authenticate",
                format!(r#"Bearer realm="http://{host}/token",service="mock-upstream""#),
            ))
            .finish(),
    }
}

async fn token(req: HttpRequest) -> HttpResponse {
    if basic_ok(&req) {
        HttpResponse::Ok().json(serde_json::json!({"token": TOKEN, "expires_in": 300}))
    } else {
        HttpResponse::Unauthorized().finish()
    }
}

impl MockUpstream {
    pub fn start(mode: Auth) -> MockUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind mock upstream");
        let host = format!("127.0.0.1:{}", listener.local_addr().expect("local addr").port());
        let data = web::Data::new((mode, host.clone()));
        let server = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .app_data(data.clone())
                .route("/v2/", web::get().to(v2))
                .route("/token", web::get().to(token))
        })
        .workers(1)
        .listen(listener)
        .expect("listen mock upstream")
        .run();
        actix_web::rt::spawn(server);
        MockUpstream { host }
    }
}
