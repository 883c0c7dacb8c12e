//! `GET /images/{name}/json` and `GET /images/{name}/history`.

use serde_json::{Value, json};

use super::wire::{config_json, created_unix, familiar_digests, familiar_tags, size, store_error};
use crate::api::error::ApiError;
use crate::image::store::{ImageRecord, Store, StoreError};

/// `GET /images/{name}/history`: newest first, one entry per history line;
/// only the top entry carries the image ID, as in Docker.
pub(super) fn history(store: &Store, rec: &ImageRecord) -> Value {
    let config = config_json(store, rec);
    let entries = config.get("history").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut layers = rec.layers.iter();
    let mut out: Vec<Value> = entries
        .iter()
        .map(|h| {
            let empty = h.get("empty_layer").and_then(Value::as_bool).unwrap_or(false);
            let size = if empty { 0 } else { layers.next().map_or(0, |l| l.size) };
            json!({
                "Id": "<missing>",
                "Created": created_unix(&json!({"created": h.get("created")})).unwrap_or(0),
                "CreatedBy": h.get("created_by").and_then(Value::as_str).unwrap_or(""),
                "Tags": Value::Null,
                "Size": size,
                "Comment": h.get("comment").and_then(Value::as_str).unwrap_or(""),
            })
        })
        .collect();
    out.reverse();
    if let Some(top) = out.first_mut() {
        top["Id"] = json!(rec.id.to_string());
        let tags =
            store.list().into_iter().find(|s| s.record.id == rec.id).map(|s| familiar_tags(&s)).unwrap_or_default();
        top["Tags"] = json!(tags);
    }
    Value::Array(out)
}

/// `GET /images/{name}/json`, with every field docker-py indexes and the
/// `ContainerConfig` that docker-compose 1.29 reads.
pub(super) fn inspect(store: &Store, rec: &ImageRecord) -> Result<Value, ApiError> {
    let summary = store
        .list()
        .into_iter()
        .find(|s| s.record.id == rec.id)
        .ok_or_else(|| store_error(StoreError::NotFound(rec.id.to_string())))?;
    let config = config_json(store, rec);
    let image_config = config.get("config").cloned().filter(|c| !c.is_null()).unwrap_or(json!({}));
    let lowers: Vec<String> = store.lower_dirs(rec).iter().map(|p| p.display().to_string()).collect();
    Ok(json!({
        "Id": rec.id.to_string(),
        "RepoTags": familiar_tags(&summary),
        "RepoDigests": familiar_digests(&summary),
        "Parent": "",
        "Comment": config.get("comment").cloned().unwrap_or(json!("")),
        "Created": config.get("created").cloned().unwrap_or(json!("")),
        "DockerVersion": config.get("docker_version").cloned().unwrap_or(json!("")),
        "Author": config.get("author").cloned().unwrap_or(json!("")),
        "Config": image_config,
        "ContainerConfig": config.get("container_config").cloned().filter(|c| !c.is_null()).unwrap_or(image_config.clone()),
        "Architecture": config.get("architecture").cloned().unwrap_or(json!("")),
        "Os": config.get("os").cloned().unwrap_or(json!("")),
        "Size": size(rec),
        "VirtualSize": size(rec),
        "GraphDriver": {"Name": "overlay2", "Data": {"LowerDir": lowers.join(":")}},
        "RootFS": {"Type": "layers", "Layers": rec.layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>()},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    }))
}
