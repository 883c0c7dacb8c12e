//! The container's side of `docker commit`: the new image's config (the
//! request's config or the container's, the `changes` applied, then
//! moby's `merge` with the container's config) and its layer (what `docker
//! diff` lists, written as a layer tar from the writable layer).
//!
//! Owns which config and which entries an image committed from a container
//! gets. It must never store an image (`crate::image::commit` does) nor
//! pause the container itself (the engine decides, as Docker's `pause`
//! query says).

use std::io::Write;

use bollard_stubs::models::ContainerConfig;
use serde_json::{Map, Value};

use super::diff::{self, Kind};
use super::error::ContainerError;
use super::registry::{Container, Containers};
use super::state::Status;
use crate::confined::{LayerEntry, Root};

/// The image config's `config` and `container_config` of a commit.
pub struct CommitConfig {
    pub config: Value,
    pub container_config: Value,
}

impl Containers {
    /// Refuses what Docker refuses to commit (409): a dead container, or
    /// one being removed.
    pub fn check_committable(&self, c: &Container) -> Result<(), ContainerError> {
        match c.record().state.status {
            Status::Dead => {
                Err(ContainerError::Conflict(format!("You cannot commit container {} which is Dead", c.id)))
            }
            Status::Removing => {
                Err(ContainerError::Conflict(format!("You cannot commit container {} which is being removed", c.id)))
            }
            _ if c.life.borrow().removed => {
                Err(ContainerError::Conflict(format!("You cannot commit container {} which is being removed", c.id)))
            }
            _ => Ok(()),
        }
    }

    /// moby's `CreateImageFromContainer` config: `requested` (the body)
    /// or else the container's config, `changes` applied in order (a bad
    /// one is a 400 before anything is written), then what it leaves out
    /// filled from the container's.
    pub fn commit_config(
        &self,
        c: &Container,
        requested: Option<ContainerConfig>,
        changes: &[String],
    ) -> Result<CommitConfig, ContainerError> {
        let own = c.record().config;
        let container_config = to_map(&own)?;
        let mut config = match requested {
            Some(r) => to_map(&r)?,
            None => container_config.clone(),
        };
        crate::image::changes::apply(&mut config, changes).map_err(|e| ContainerError::Invalid(e.to_string()))?;
        merge(&mut config, &container_config);
        Ok(CommitConfig { config: Value::Object(config), container_config: Value::Object(container_config) })
    }

    /// The container's changes as a layer tar into `out`: what `docker
    /// diff` lists, deletions as whiteouts.
    pub fn write_layer(&self, c: &Container, out: impl Write) -> Result<(), ContainerError> {
        let rec = c.record();
        let (_, layers) = self.image_config(&rec.image_id)?;
        let upper = super::record::dir(&self.root, &rec.id).join("rw").join("upper");
        let changes = diff::changes(&upper, &layers);
        let mut b = tar::Builder::new(out);
        b.follow_symlinks(false);
        if !changes.is_empty() {
            let root = Root::open(&upper).map_err(|e| ContainerError::io("open the writable layer")(e.into()))?;
            let entries = changes.iter().map(|ch| match ch.kind {
                Kind::Deleted => LayerEntry::Deleted(&ch.path),
                Kind::Added | Kind::Modified => LayerEntry::Present(&ch.path),
            });
            crate::confined::append_layer(&root, entries, &mut b)
                .map_err(|e| ContainerError::io("writing the commit layer")(e.into()))?;
        }
        b.into_inner().and_then(|mut w| w.flush()).map_err(ContainerError::io("writing the commit layer"))
    }
}

fn to_map(c: &ContainerConfig) -> Result<Map<String, Value>, ContainerError> {
    match serde_json::to_value(c) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Ok(Map::new()),
        Err(e) => Err(ContainerError::Invalid(format!("the container's config: {e}"))),
    }
}

fn empty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        Some(_) => false,
    }
}

/// moby's `merge(userConf, imageConf)`: `user` keeps what it says and
/// takes from `base` what it leaves out (ports, env and labels merged key
/// by key, Cmd only when there is no Entrypoint).
fn merge(user: &mut Map<String, Value>, base: &Map<String, Value>) {
    let take = |user: &mut Map<String, Value>, key: &str| {
        if empty(user.get(key))
            && let Some(v) = base.get(key).filter(|v| !v.is_null())
        {
            user.insert(key.into(), v.clone());
        }
    };
    take(user, "User");
    if user.get("Labels").is_none_or(Value::is_null) {
        user.insert("Labels".into(), Value::Object(Map::new()));
    }
    for key in ["ExposedPorts", "Volumes", "Labels"] {
        if let Some(Value::Object(b)) = base.get(key) {
            let u = user.entry(key).or_insert_with(|| Value::Object(Map::new()));
            if !u.is_object() {
                *u = Value::Object(Map::new());
            }
            if let Value::Object(u) = u {
                for (k, v) in b {
                    u.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
    }
    if empty(user.get("Env")) {
        take(user, "Env");
    } else if let (Some(Value::Array(u)), Some(Value::Array(b))) = (user.get_mut("Env"), base.get("Env")) {
        let key = |e: &Value| e.as_str().map(|s| s.split_once('=').map_or(s, |(k, _)| k).to_string());
        let have: Vec<Option<String>> = u.iter().map(key).collect();
        for e in b {
            if !have.contains(&key(e)) {
                u.push(e.clone());
            }
        }
    }
    if empty(user.get("Entrypoint")) {
        if empty(user.get("Cmd")) {
            take(user, "Cmd");
        }
        if user.get("Entrypoint").is_none_or(Value::is_null) {
            take(user, "Entrypoint");
        }
    }
    merge_healthcheck(user, base);
    take(user, "WorkingDir");
    take(user, "StopSignal");
}

fn merge_healthcheck(user: &mut Map<String, Value>, base: &Map<String, Value>) {
    let Some(Value::Object(b)) = base.get("Healthcheck") else { return };
    match user.get_mut("Healthcheck") {
        Some(Value::Object(u)) => {
            for key in ["Test", "Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"] {
                let zero = match u.get(key) {
                    None | Some(Value::Null) => true,
                    Some(Value::Array(a)) => a.is_empty(),
                    Some(Value::Number(n)) => n.as_i64() == Some(0),
                    Some(_) => false,
                };
                if let (true, Some(v)) = (zero, b.get(key)) {
                    u.insert(key.into(), v.clone());
                }
            }
        }
        _ => {
            user.insert("Healthcheck".into(), Value::Object(b.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn merge_fills_what_the_request_left_out() {
        let base = map(json!({
            "User": "app", "Env": ["PATH=/bin", "A=1"], "Cmd": ["sh"], "Entrypoint": null,
            "ExposedPorts": {"80/tcp": {}}, "Labels": {"a": "base", "b": "base"}, "WorkingDir": "/srv",
            "Hostname": "c0ffee", "StopSignal": "SIGQUIT"
        }));
        let mut user = map(json!({"Env": ["A=2"], "ExposedPorts": {"8000/tcp": {}}, "Labels": {"b": "user"}}));
        merge(&mut user, &base);
        assert_eq!(user["User"], json!("app"));
        assert_eq!(user["Env"], json!(["A=2", "PATH=/bin"]), "the request's A wins; PATH comes from the base");
        assert_eq!(user["ExposedPorts"], json!({"8000/tcp": {}, "80/tcp": {}}));
        assert_eq!(user["Labels"], json!({"a": "base", "b": "user"}));
        assert_eq!((user["Cmd"].clone(), user["WorkingDir"].clone()), (json!(["sh"]), json!("/srv")));
        assert_eq!(user["StopSignal"], json!("SIGQUIT"));
        assert!(user.get("Hostname").is_none(), "moby's merge leaves the rest to the request");
        // An Entrypoint of the request drops the base's Cmd.
        let mut ep = map(json!({"Entrypoint": ["/init"]}));
        merge(&mut ep, &base);
        assert!(ep.get("Cmd").is_none(), "{ep:?}");
    }

    #[test]
    fn healthchecks_merge_field_by_field() {
        let base = map(json!({"Healthcheck": {"Test": ["CMD", "true"], "Interval": 5, "Retries": 3}}));
        let mut user = map(json!({"Healthcheck": {"Interval": 9}}));
        merge(&mut user, &base);
        assert_eq!(user["Healthcheck"], json!({"Test": ["CMD", "true"], "Interval": 9, "Retries": 3}));
    }
}
