//! The pages' stylesheet and script, built into the binary. Their URLs
//! carry a hash of their content, so a browser caches them for good and
//! an upgrade of the node is never shown with a stale copy.
use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

const CSS: &str = include_str!("assets/app.css");
const JS: &str = include_str!("assets/app.js");

struct Names {
    css: String,
    js: String,
}

fn names() -> &'static Names {
    static NAMES: OnceLock<Names> = OnceLock::new();
    NAMES.get_or_init(|| {
        let short = |text: &str| hex::encode(&Sha256::digest(text.as_bytes())[..6]);
        Names {
            css: format!("app.{}.css", short(CSS)),
            js: format!("app.{}.js", short(JS)),
        }
    })
}

pub fn css_url() -> String {
    format!("/assets/{}", names().css)
}

pub fn js_url() -> String {
    format!("/assets/{}", names().js)
}

/// `GET /assets/{name}`
pub async fn serve(Path(name): Path<String>) -> Response {
    let n = names();
    let (body, kind) = if name == n.css {
        (CSS, "text/css; charset=utf-8")
    } else if name == n.js {
        (JS, "text/javascript; charset=utf-8")
    } else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        body,
    )
        .into_response()
}
