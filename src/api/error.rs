//! `ApiError`: every non-200 answer, `{"error", "message"}` plus
//! `"transaction"` and `"block"` where they apply (API.md).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::consensus::{BlockError, RuleError};
#[cfg(feature = "node")]
use crate::mempool::PolicyError;
#[cfg(feature = "node")]
use crate::node::{Rejected, TxRejected};
#[cfg(feature = "node")]
use crate::state::StoreError;
use crate::types::Hash;
use crate::wire::ErrorBody;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub transaction: Option<usize>,
    pub block: Option<Hash>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.to_string(),
            message: message.into(),
            transaction: None,
            block: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the body is larger than the limit of {limit} bytes"),
        )
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// A broken consensus rule: 409 for `already_known`, else 400.
    pub fn rule(error: &RuleError) -> ApiError {
        let status = match error {
            RuleError::AlreadyKnown => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, error.code(), error.to_string())
    }

    pub fn block_rule(error: &BlockError, block: Option<Hash>) -> ApiError {
        ApiError {
            transaction: error.transaction,
            block,
            ..ApiError::rule(&error.error)
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if self.status.is_client_error() {
            tracing::debug!(status = self.status.as_u16(), code = %self.code, "request refused: {}", self.message);
        }
        HttpResponse::build(self.status).json(ErrorBody {
            error: self.code.clone(),
            message: self.message.clone(),
            transaction: self.transaction,
            block: self.block,
        })
    }
}

#[cfg(feature = "node")]
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!("store: {e}");
        ApiError::internal(e.to_string())
    }
}

#[cfg(feature = "node")]
impl From<Rejected> for ApiError {
    fn from(r: Rejected) -> Self {
        match r {
            Rejected::Rule { error, block } => ApiError::block_rule(&error, block),
            Rejected::KnownInvalid {
                code,
                message,
                transaction,
            } => ApiError {
                transaction,
                ..ApiError::new(StatusCode::BAD_REQUEST, &code, message)
            },
            Rejected::Store(e) => e.into(),
        }
    }
}

#[cfg(feature = "node")]
impl From<TxRejected> for ApiError {
    fn from(r: TxRejected) -> Self {
        match r {
            TxRejected::Rule(e) => ApiError::rule(&e),
            TxRejected::Policy(e) => {
                let status = match e {
                    PolicyError::AlreadyKnown => StatusCode::CONFLICT,
                    _ => StatusCode::BAD_REQUEST,
                };
                ApiError::new(status, e.code(), e.to_string())
            }
            TxRejected::Store(e) => e.into(),
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(_: actix_web::error::BlockingError) -> Self {
        ApiError::unavailable("the node is shutting down")
    }
}
