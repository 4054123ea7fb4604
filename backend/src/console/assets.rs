//! The console's files, compiled into the binary (`backend/console/`): nothing is fetched from
//! another origin, so the console works offline and its CSP can name only itself.

use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, web};

use crate::error::ApiError;

/// The signed-in pages, in the navigation's order: each `/{name}` is served from `{name}.html`
/// with its script `{name}.js`, and `/api/session` gives the list to the navigation.
macro_rules! pages {
    ($(($name:literal, $title:literal)),* $(,)?) => {
        pub const PAGES: &[(&str, &str)] = &[$(($name, $title)),*];
        const PAGE_FILES: &[(&str, &str)] = &[$(
            (concat!($name, ".html"), include_str!(concat!("../../console/", $name, ".html"))),
            (concat!($name, ".js"), include_str!(concat!("../../console/", $name, ".js"))),
        )*];
    };
}

pages![
    ("agents", "Agents"),
    ("traffic", "Traffic"),
    ("health", "Health")
];

/// The sign-in page and what every page shares.
const FILES: &[(&str, &str)] = &[
    ("login.html", include_str!("../../console/login.html")),
    ("login.js", include_str!("../../console/login.js")),
    ("console.css", include_str!("../../console/console.css")),
    ("console.js", include_str!("../../console/console.js")),
];

/// The media type by extension: the console has only these three kinds.
fn media_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        _ => "text/javascript; charset=utf-8",
    }
}

fn file(name: &str) -> Option<HttpResponse> {
    let (name, body) = FILES.iter().chain(PAGE_FILES).find(|(n, _)| *n == name)?;
    let media_type = media_type(name).parse().expect("a valid media type");
    Some(
        HttpResponse::Ok()
            .content_type(ContentType(media_type))
            .body(*body),
    )
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
