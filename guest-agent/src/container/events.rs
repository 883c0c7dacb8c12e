//! The engine's event bus: what `GET /events` streams. Every state change of
//! a container is published here once; subscribers get the recent history
//! (for `since`) and then live events.
//!
//! Owns the event shape (Docker's `EventMessage` plus the legacy
//! `status`/`id`/`from` fields that docker-py and compose still read) and
//! the filters. It must never block a publisher: a subscriber that falls
//! behind loses events (and is told so by the broadcast channel), the
//! engine does not wait for it.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bollard_stubs::models::{EventActor, EventMessage, EventMessageScopeEnum, EventMessageTypeEnum};
use chrono::{DateTime, Utc};
use docker_vocab::filters::Filters;
use serde_json::Value;
use tokio::sync::broadcast;

/// How many past events `since` can reach back to.
const HISTORY: usize = 1024;

pub struct EventBus {
    tx: broadcast::Sender<Event>,
    history: Mutex<VecDeque<Event>>,
}

/// One event, with the time it happened.
#[derive(Clone, Debug)]
pub struct Event {
    pub message: EventMessage,
    pub time: DateTime<Utc>,
}

impl Event {
    pub fn typ(&self) -> &str {
        self.message.typ.as_ref().map_or("", |t| t.as_ref())
    }

    pub fn action(&self) -> &str {
        self.message.action.as_deref().unwrap_or("")
    }

    pub fn attributes(&self) -> Option<&HashMap<String, String>> {
        self.message.actor.as_ref().and_then(|a| a.attributes.as_ref())
    }

    pub fn actor_id(&self) -> &str {
        self.message.actor.as_ref().and_then(|a| a.id.as_deref()).unwrap_or("")
    }

    /// The JSON line Docker sends: the model plus, for containers and
    /// images, the pre-1.22 `status`, `id` and `from` fields.
    pub fn to_json(&self) -> Value {
        let mut v = serde_json::to_value(&self.message).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut v
            && matches!(self.typ(), "container" | "image")
        {
            map.insert("status".into(), Value::from(self.action()));
            map.insert("id".into(), Value::from(self.actor_id()));
            if let Some(image) = self.attributes().and_then(|a| a.get("image")) {
                map.insert("from".into(), Value::from(image.clone()));
            }
        }
        v
    }
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus { tx: broadcast::channel(256).0, history: Mutex::new(VecDeque::with_capacity(HISTORY)) }
    }
}

impl EventBus {
    /// Publishes a container event; `attributes` are the container's labels
    /// plus `name` and `image`, as Docker sends them.
    pub fn container(&self, action: &str, id: &str, attributes: HashMap<String, String>) {
        self.publish(EventMessageTypeEnum::CONTAINER, action, id, attributes);
    }

    pub fn publish(&self, typ: EventMessageTypeEnum, action: &str, id: &str, attributes: HashMap<String, String>) {
        let time = Utc::now();
        let message = EventMessage {
            typ: Some(typ),
            action: Some(action.to_string()),
            actor: Some(EventActor { id: Some(id.to_string()), attributes: Some(attributes) }),
            scope: Some(EventMessageScopeEnum::LOCAL),
            time: Some(time.timestamp()),
            time_nano: time.timestamp_nanos_opt(),
        };
        let event = Event { message, time };
        tracing::debug!(typ = %event.typ(), action, id, "event");
        {
            let mut h = self.history.lock().unwrap_or_else(|p| p.into_inner());
            if h.len() == HISTORY {
                h.pop_front();
            }
            h.push_back(event.clone());
        }
        // No subscriber is not an error.
        let _ = self.tx.send(event);
    }

    /// The past events at or after `since`, and a receiver for what comes
    /// next. Taken under the history lock so nothing falls between the two.
    pub fn subscribe(&self, since: Option<DateTime<Utc>>) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let h = self.history.lock().unwrap_or_else(|p| p.into_inner());
        let rx = self.tx.subscribe();
        let past = match since {
            Some(t) => h.iter().filter(|e| e.time >= t).cloned().collect(),
            None => Vec::new(),
        };
        (past, rx)
    }
}

/// `filters` of `GET /events`: each key must match one of its values, every
/// `label` must hold among the event's attributes; keys are ANDed (Docker's
/// semantics, the generic rules being `docker_vocab::filters`').
#[derive(Debug, Default)]
pub struct EventFilter {
    pub filters: Filters,
}

/// The keys [`EventFilter`] tests; the others name kinds of objects berth
/// does not emit events for yet, and never match.
const MATCHED: &[&str] = &["type", "event", "container", "image", "label", "scope"];

impl EventFilter {
    pub fn matches(&self, e: &Event) -> bool {
        let f = &self.filters;
        let attrs = e.attributes();
        let attr = |k: &str| attrs.and_then(|a| a.get(k)).map_or("", String::as_str);
        f.any_value("type", |v| e.typ() == v)
            && f.any_value("event", |v| e.action() == v || e.action().split(':').next() == Some(v))
            && f.any_value("container", |v| {
                e.typ() == "container" && (e.actor_id().starts_with(v) || attr("name") == v)
            })
            && f.any_value("image", |v| attr("image") == v || (e.typ() == "image" && e.actor_id() == v))
            && f.match_kv_list("label", &attrs)
            && f.exact_match("scope", "local")
            && f.iter().all(|(k, vals)| MATCHED.contains(&k) || vals.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(name: &str) -> HashMap<String, String> {
        HashMap::from([("name".into(), name.into()), ("image".into(), "busybox".into()), ("app".into(), "web".into())])
    }

    #[tokio::test]
    async fn subscribers_get_history_then_live_events() {
        let bus = EventBus::default();
        let before = Utc::now();
        bus.container("create", "abc", attrs("one"));
        let (past, mut rx) = bus.subscribe(Some(before));
        assert_eq!(past.len(), 1);
        assert_eq!(past[0].action(), "create");
        bus.container("start", "abc", attrs("one"));
        let live = rx.recv().await.unwrap();
        assert_eq!(live.action(), "start");
        let (past, _) = bus.subscribe(None);
        assert!(past.is_empty(), "no since: live events only");
    }

    #[test]
    fn json_has_model_and_legacy_fields() {
        let bus = EventBus::default();
        bus.container("die", "abc", attrs("one"));
        let (past, _) = bus.subscribe(Some(DateTime::<Utc>::MIN_UTC));
        let v = past[0].to_json();
        assert_eq!(v["Type"], "container");
        assert_eq!(v["Action"], "die");
        assert_eq!(v["Actor"]["ID"], "abc");
        assert_eq!(v["Actor"]["Attributes"]["name"], "one");
        assert_eq!(v["status"], "die");
        assert_eq!(v["id"], "abc");
        assert_eq!(v["from"], "busybox");
        assert_eq!(v["scope"], "local");
        assert!(v["timeNano"].as_i64().unwrap() > 0);
    }

    #[test]
    fn history_is_bounded() {
        let bus = EventBus::default();
        for i in 0..(HISTORY + 10) {
            bus.container("start", &i.to_string(), HashMap::new());
        }
        let (past, _) = bus.subscribe(Some(DateTime::<Utc>::MIN_UTC));
        assert_eq!(past.len(), HISTORY);
        assert_eq!(past[0].actor_id(), "10");
    }

    #[test]
    fn filters_and_keys_or_values() {
        let bus = EventBus::default();
        bus.container("exec_start: sh", "abcdef", attrs("one"));
        let (past, _) = bus.subscribe(Some(DateTime::<Utc>::MIN_UTC));
        let e = &past[0];
        let f = |pairs: &[(&str, &[&str])]| EventFilter {
            filters: pairs.iter().fold(Filters::new(), |f, (k, vals)| vals.iter().fold(f, |f, v| f.with(k, v))),
        };
        assert!(f(&[]).matches(e));
        assert!(f(&[("type", &["container"]), ("container", &["one"])]).matches(e));
        assert!(f(&[("container", &["abc"])]).matches(e), "ID prefix");
        assert!(f(&[("event", &["exec_start"])]).matches(e), "action before the colon");
        assert!(f(&[("event", &["die", "exec_start"])]).matches(e));
        assert!(f(&[("label", &["app=web"])]).matches(e));
        assert!(f(&[("label", &["app"])]).matches(e));
        assert!(!f(&[("label", &["app=db"])]).matches(e));
        assert!(f(&[("label", &["app=web", "name=one"])]).matches(e), "every label holds");
        assert!(!f(&[("label", &["app=web", "name=two"])]).matches(e), "labels are ANDed, not alternatives");
        assert!(!f(&[("type", &["image"])]).matches(e));
        assert!(!f(&[("type", &["container"]), ("container", &["two"])]).matches(e));
        assert!(!f(&[("network", &["x"])]).matches(e));
    }
}
