//! The console's files, compiled into the binary (`backend/console/`): nothing is fetched from
//! another origin, so the console works offline and its CSP can name only itself.

use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, web};

use crate::error::ApiError;

const FILES: &[(&str, &str, &str)] = &[
    (
        "login.html",
        "text/html; charset=utf-8",
        include_str!("../../console/login.html"),
    ),
    (
        "agents.html",
        "text/html; charset=utf-8",
        include_str!("../../console/agents.html"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("../../console/console.css"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/console.js"),
    ),
    (
        "login.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/login.js"),
    ),
    (
        "agents.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/agents.js"),
    ),
];

fn file(name: &str) -> Option<HttpResponse> {
    FILES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, kind, body)| {
            HttpResponse::Ok()
                .content_type(ContentType(kind.parse().expect("a valid media type")))
                .body(*body)
        })
}

pub fn page(name: &str) -> HttpResponse {
    file(name).expect("the console's pages are compiled in")
}

/// `/assets/{name}`: the scripts and the stylesheet (pages have their own routes).
pub async fn asset(name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    if name.ends_with(".html") {
        return Err(ApiError::UnknownRoute);
    }
    file(&name).ok_or(ApiError::UnknownRoute)
}
