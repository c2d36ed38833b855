//! `GET /mining/template/` (API.md §6).

use actix_web::{HttpRequest, HttpResponse, web};

use super::params::{parse_address, query_map};
use super::{ApiError, AppState};

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
