//! The `filters` query parameter, decoded once for every list and prune
//! route into the engine's `Filters` (Docker's JSON, both of its forms).
//!
//! Owns that decoding and its 400; it must never decide what a filter
//! selects (the engine and the domains do).

use docker_vocab::filters::Filters;
use serde::Deserialize;

use super::error::ApiError;

pub fn parse_filters(raw: Option<&str>) -> Result<Filters, ApiError> {
    Filters::from_query(raw).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// A query of nothing but `filters` (the list and prune routes').
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct FiltersQuery {
    pub filters: Option<String>,
}
