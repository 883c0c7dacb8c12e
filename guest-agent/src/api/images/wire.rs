//! The wire format that several image routes share: query parameters in
//! order, store errors as Docker's status codes, and a stored image's
//! familiar names, config, size and creation time as Docker shows them.
//!
//! Owns those translations only; it must never reach the store for more
//! than a read of an image's config.

use axum::http::StatusCode;
use serde_json::Value;

use crate::api::error::ApiError;
use crate::image::reference::ImageRef;
use crate::image::store::{ImageRecord, ImageSummary, Store, StoreError};

pub fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound(name) => ApiError::not_found(format!("No such image: {name}")),
        StoreError::Ambiguous(_) => ApiError::bad_request(e.to_string()),
        other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}

pub fn bad_reference(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(e.to_string())
}

/// Query parameters in order, repeats kept (`changes=…&changes=…`), which
/// axum's `Query` into a map would collapse.
pub fn query_pairs(raw: Option<String>) -> Vec<(String, String)> {
    raw.and_then(|r| serde_urlencoded::from_str(&r).ok()).unwrap_or_default()
}

pub fn familiar(r: &ImageRef) -> String {
    r.familiar_string()
}

pub fn familiar_tags(s: &ImageSummary) -> Vec<String> {
    s.tags.iter().filter_map(|k| ImageRef::parse(k).ok()).map(|r| familiar(&r)).collect()
}

pub fn familiar_digests(s: &ImageSummary) -> Vec<String> {
    s.repo_digests.iter().filter_map(|k| ImageRef::parse(k).ok()).map(|r| familiar(&r)).collect()
}

pub fn config_json(store: &Store, rec: &ImageRecord) -> Value {
    store.read_blob(&rec.id).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(Value::Null)
}

/// Sum of the layers as distributed (compressed).
pub fn size(rec: &ImageRecord) -> u64 {
    rec.layers.iter().map(|l| l.size).sum()
}

/// `created` (RFC 3339, UTC or with an offset) as Unix seconds.
pub fn created_unix(config: &Value) -> Option<i64> {
    let s = config.get("created")?.as_str()?;
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, sec) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    let tail = s.get(19..)?.trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    let offset = match tail {
        "Z" | "z" => 0,
        t if t.len() == 6 => {
            let sign = if t.starts_with('-') { -1 } else { 1 };
            sign * (t.get(1..3)?.parse::<i64>().ok()? * 3600 + t.get(4..6)?.parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + sec - offset)
}
