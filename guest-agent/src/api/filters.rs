//! The `filters` query parameter, decoded once for every list and prune
//! route into the engine's `Filters` (Docker's JSON, both of its forms).
//!
//! Owns that decoding and its 400; it must never decide what a filter
//! selects (the engine and the domains do).

use super::error::ApiError;
use crate::container::filters::Filters;

pub fn parse_filters(raw: Option<&str>) -> Result<Filters, ApiError> {
    crate::container::filters::parse(raw).map_err(ApiError::bad_request)
}
