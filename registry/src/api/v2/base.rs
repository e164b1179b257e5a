use actix_web::HttpResponse;

/// `GET /v2/`: the API version check.
pub fn ping() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body("true")
}
