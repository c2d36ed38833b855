//! `GET /mining/template/` (API.md §6).

use actix_web::get;
use actix_web::{HttpRequest, HttpResponse, web};

use super::params::{parse_address, query_map};
use super::{ApiError, AppState};

#[utoipa::path(
    tag = "mining",
    params(("address" = crate::types::Address, Query, description = "The address the coinbase pays")),
    responses((status = 200, description = "Success", body = crate::types::Block), (status = "4XX", description = "Refused: the error code and a sentence", body = crate::wire::ErrorBody), (status = 503, description = "Unavailable (shutting down, or beyond a bound)", body = crate::wire::ErrorBody))
)]
#[get("/mining/template")]
pub async fn template(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = query_map(&req)?;
    let address = query.get("address").ok_or_else(|| {
        ApiError::bad_request("address is required: /mining/template/?address=0x…")
    })?;
    let address = parse_address(address)?;
    let node = state.node.clone();
    let block = web::block(move || node.block_template(&address)).await??;
    Ok(HttpResponse::Ok().json(block))
}
