//! Routes only the edge calls, proven by its own signed assertion and never reachable through
//! Envoy (its route table does not name them): `GET /_bridge/registry`, the agent registry's
//! snapshot every Envoy follows.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use vault_mcp_filter::assertion::edge_claims;
use vault_mcp_filter::headers::EDGE_ASSERTION;

use crate::clock::unix_seconds;
use crate::error::ApiError;
use crate::identity::Trust;
use crate::registry::Registry;
use crate::registry::snapshot::SnapshotCache;

/// `GET /_bridge/registry`: the snapshot, for the edge only (its own signed assertion, bound to
/// this path). `If-None-Match` with the current `ETag` gets 304.
pub async fn snapshot(
    request: HttpRequest,
    trust: web::Data<Trust>,
    registry: web::Data<Registry>,
    cache: web::Data<SnapshotCache>,
) -> Result<HttpResponse, ApiError> {
    let Trust::Edge(edge) = trust.get_ref() else {
        return Err(ApiError::UnknownRoute); // standalone: no edge to serve
    };
    let proof = request
        .headers()
        .get(EDGE_ASSERTION)
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::Unauthenticated("the edge's assertion is missing"))?;
    let now = unix_seconds();
    edge.key
        .verify(proof, &edge_claims(request.path()), now, edge.max_age)
        .map_err(|_| ApiError::Unauthenticated("the edge's assertion is invalid or stale"))?;
    let built = cache.get(&registry).await?;
    let unchanged = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == built.etag.as_bytes());
    let mut response = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, built.etag.clone()))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    Ok(if unchanged {
        response.finish()
    } else {
        response
            .content_type("application/json")
            .body(built.body.clone())
    })
}
