//! `GET /api/v1/discovery`: the Swagger 2.0 document's shape (Quay's), the
//! internal switch, and cross-origin use: preflights, a browser on another
//! origin reading the document, and the browser rule still refusing other
//! API reads without `X-Requested-With`.

use serde_json::Value;

use crate::helpers::{api_user, spawn_app_with};

const CHROME: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36";

#[actix_web::test]
async fn the_document_is_swagger_two_with_quays_shape() {
    let app = spawn_app_with("SERVER_HOSTNAME: registry.example.com\nPREFERRED_URL_SCHEME: https\n").await;
    let res = app.get("/api/v1/discovery").await;
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.expect("json");
    assert_eq!(doc["swagger"], "2.0");
    assert_eq!(doc["host"], "registry.example.com");
    assert_eq!(doc["schemes"], serde_json::json!(["https"]));
    assert_eq!(doc["basePath"], "/");
    let oauth = &doc["securityDefinitions"]["oauth2_implicit"];
    assert_eq!(
        oauth["authorizationUrl"],
        "https://registry.example.com/oauth/authorize"
    );
    assert!(oauth["scopes"]["repo:read"].is_string());
    assert_eq!(
        doc["definitions"]["ApiError"]["required"],
        serde_json::json!(["status", "type", "title"])
    );

    let tags = &doc["paths"]["/api/v1/repository/{repo}/tag/"];
    assert_eq!(tags["x-tag"], "tag");
    let list = &tags["get"];
    assert_eq!(list["operationId"], "listTags");
    assert_eq!(
        list["security"],
        serde_json::json!([{"oauth2_implicit": ["repo:read"]}])
    );
    assert_eq!(list["responses"]["404"]["schema"]["$ref"], "#/definitions/ApiError");
    let params = list["parameters"].as_array().expect("parameters");
    assert!(params
        .iter()
        .any(|p| p["name"] == "repo" && p["in"] == "path" && p["required"] == true));
    assert!(
        params
            .iter()
            .any(|p| p["name"] == "onlyActiveTags" && p["in"] == "query"),
        "query parameters come from the handler's query type: {params:?}"
    );

    // A request body is described by the handler's body type.
    let create = &doc["paths"]["/api/v1/repository"]["post"];
    assert_eq!(create["responses"]["201"]["description"], "Successful creation");
    let body = create["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .find(|p| p["in"] == "body")
        .expect("a body parameter");
    let model = body["schema"]["$ref"]
        .as_str()
        .expect("a model")
        .rsplit('/')
        .next()
        .expect("name");
    let properties = &doc["definitions"][model]["properties"];
    for field in ["repository", "visibility", "namespace"] {
        assert!(properties.get(field).is_some(), "{model} has {field}: {properties}");
    }
    assert_eq!(
        doc["paths"]["/api/v1/repository/{repo}"]["delete"]["responses"]["204"]["description"],
        "Deleted"
    );

    // Internal endpoints only when asked for.
    assert!(doc["paths"].get("/api/v1/signin").is_none());
    let internal: Value = app
        .get("/api/v1/discovery?internal=true")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(internal["paths"]["/api/v1/signin"]["post"]["x-internal"], true);
}

#[actix_web::test]
async fn another_origin_may_read_the_document_and_preflight_calls() {
    let app = spawn_app_with("").await;
    let client = reqwest::Client::new();

    // A browser page on another origin (a Swagger UI) fetches the document
    // without X-Requested-With.
    let res = client
        .get(app.url("/api/v1/discovery"))
        .header("User-Agent", CHROME)
        .header("Origin", "http://swagger.example")
        .send()
        .await
        .expect("discovery");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    assert!(res.headers().get("access-control-allow-credentials").is_none());

    // A preflight for a bearer-token call is answered.
    let res = client
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/repository?public=true"))
        .header("Origin", "http://swagger.example")
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "authorization,x-requested-with")
        .send()
        .await
        .expect("preflight");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    let allowed = res.headers()["access-control-allow-headers"]
        .to_str()
        .expect("text")
        .to_ascii_lowercase();
    assert!(allowed.contains("authorization"), "{allowed}");

    // A cross-origin call with a bearer token works, with the header.
    let (_, token) = api_user(&app, "corsuser", "repo:read user:read").await;
    let res = client
        .get(app.url("/api/v1/user/"))
        .header("User-Agent", CHROME)
        .header("X-Requested-With", "XMLHttpRequest")
        .header("Origin", "http://swagger.example")
        .bearer_auth(&token)
        .send()
        .await
        .expect("user");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["access-control-allow-origin"], "*");

    // Refused: other API reads from a browser without X-Requested-With
    // (Quay's rule against reflected text) are still refused.
    let res = client
        .get(app.url("/api/v1/user/"))
        .header("User-Agent", CHROME)
        .header("Origin", "http://swagger.example")
        .bearer_auth(&token)
        .send()
        .await
        .expect("user");
    assert_eq!(res.status(), 400);

    // Refused: a preflight for a method the API does not take.
    let res = client
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/repository"))
        .header("Origin", "http://swagger.example")
        .header("Access-Control-Request-Method", "PATCH")
        .send()
        .await
        .expect("preflight");
    assert!(res.status().is_client_error(), "{}", res.status());
    assert!(res.headers().get("access-control-allow-origin").is_none());
}
