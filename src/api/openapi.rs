//! `GET /openapi.json` (API.md §7): an OpenAPI 3.1 document generated from
//! the handlers (`#[utoipa::path]`) and the `wire.rs` and protocol types
//! (`ToSchema`). Routes are registered through utoipa-actix-web's
//! `service(...)`, so the document holds exactly the routes served; the
//! protocol's own encodings (amounts as exact decimal numbers, hashes as
//! hex, nodes as `{ip_address, port}`) are written here.

use actix_web::{App, HttpResponse, get, web};
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{InfoBuilder, OpenApi, RefOr};
use utoipa::{PartialSchema, ToSchema};
use utoipa_actix_web::AppExt;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::types::{
    Address, Amount, BlockHeader, BlockSummary, Hash, Signature, SignedAmount, Target,
    TransactionHeader,
};
use crate::wire::{NodeAddr, Work};

/// The document, serialised once when the server starts, and the methods
/// each route pattern serves (the `Allow` header of a `405`).
pub struct Document {
    json: web::Bytes,
    allowed: std::collections::HashMap<String, String>,
}

impl Document {
    /// `GET, POST` for a route pattern (`/blocks`), as `Allow` lists them.
    pub fn allowed(&self, pattern: &str) -> Option<&str> {
        self.allowed.get(pattern).map(String::as_str)
    }
}

/// The document of the routes `configure` registers.
pub fn document(title: &str, description: &str, configure: fn(&mut ServiceConfig)) -> Document {
    let (_, mut api) = App::new()
        .into_utoipa_app()
        .configure(configure)
        .split_for_parts();
    api.info = InfoBuilder::new()
        .title(title)
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(description))
        .build();
    document_of(&api)
}

fn document_of(api: &OpenApi) -> Document {
    // Serialising a document built from our own types cannot fail; if it
    // ever did, the route answers an empty object rather than panicking.
    let json = web::Bytes::from(serde_json::to_vec(api).unwrap_or_else(|_| b"{}".to_vec()));
    let methods = |item: &utoipa::openapi::PathItem| {
        [
            ("GET", item.get.is_some()),
            ("POST", item.post.is_some()),
            ("PUT", item.put.is_some()),
            ("DELETE", item.delete.is_some()),
            ("PATCH", item.patch.is_some()),
        ]
        .iter()
        .filter(|(_, served)| *served)
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
    };
    let allowed = api
        .paths
        .paths
        .iter()
        .map(|(path, item)| (path.clone(), methods(item)))
        .collect();
    Document { json, allowed }
}

#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "This document (OpenAPI 3.1)", content_type = "application/json", body = Object))
)]
#[get("/openapi.json")]
pub async fn openapi_json(doc: web::Data<Document>) -> HttpResponse {
    super::json_response(doc.json.clone())
}

fn string(description: &str, pattern: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .pattern(Some(pattern))
        .description(Some(description))
        .into()
}

macro_rules! schema {
    ($name:ty, $schema:expr) => {
        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                $schema
            }
        }
        impl ToSchema for $name {}
    };
}

schema!(
    Hash,
    string("32 bytes, 64 lowercase hex digits", "^[0-9a-f]{64}$")
);
schema!(
    Target,
    string(
        "A proof-of-work target: a 256-bit big-endian integer, 64 lowercase hex digits",
        "^[0-9a-f]{64}$"
    )
);
schema!(
    Signature,
    string(
        "65 bytes r ‖ s ‖ v, 130 lowercase hex digits",
        "^[0-9a-f]{130}$"
    )
);
schema!(
    Address,
    string(
        "0x and 40 lowercase hex digits (requests may also write it in its checksummed mixed-case display form)",
        "^0x[0-9a-f]{40}$"
    )
);
schema!(
    Work,
    string("Cumulative work, a decimal integer", "^[0-9]+$")
);
schema!(
    Amount,
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Number))
        .minimum(Some(0))
        .description(Some(
            "An amount in coins, an exact decimal number with at most 8 decimals (PROTOCOL.md §1)"
        ))
        .into()
);
schema!(
    SignedAmount,
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Number))
        .description(Some(
            "A signed amount in coins, an exact decimal number with at most 8 decimals"
        ))
        .into()
);
schema!(
    NodeAddr,
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Object))
        .property(
            "ip_address",
            ObjectBuilder::new()
                .schema_type(SchemaType::Type(Type::String))
                .description(Some("An IPv4 or IPv6 address, never a host name")),
        )
        .required("ip_address")
        .property(
            "port",
            ObjectBuilder::new()
                .schema_type(SchemaType::Type(Type::Integer))
                .minimum(Some(1))
                .maximum(Some(65535)),
        )
        .required("port")
        .additional_properties(Some(
            utoipa::openapi::schema::AdditionalProperties::FreeForm(false)
        ))
        .description(Some("A node of the network (API.md §1)"))
        .into()
);

// The header's fields and `transaction_headers` in one object: a derived
// schema would be `allOf` the header (which admits no other property) and
// the list, which no answer can satisfy.
impl PartialSchema for BlockSummary {
    fn schema() -> RefOr<Schema> {
        let header = match BlockHeader::schema() {
            RefOr::T(Schema::Object(object)) => object,
            _ => utoipa::openapi::schema::Object::new(),
        };
        let mut summary = ObjectBuilder::from(header)
            .property(
                "transaction_headers",
                utoipa::openapi::schema::ArrayBuilder::new().items(RefOr::Ref(
                    utoipa::openapi::Ref::from_schema_name(TransactionHeader::name()),
                )),
            )
            .required("transaction_headers")
            .description(Some(
                "The block header with a summary of each transaction: GET /blocks/{bid}/",
            ))
            .build();
        summary.title = None;
        RefOr::T(Schema::Object(summary))
    }
}

impl ToSchema for BlockSummary {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((BlockHeader::name().into(), BlockHeader::schema()));
        BlockHeader::schemas(schemas);
        schemas.push((
            TransactionHeader::name().into(),
            TransactionHeader::schema(),
        ));
        TransactionHeader::schemas(schemas);
    }
}
