//! Removal rules against a real store, with the users hook answering as the
//! container registry does: a list of (image, container, running).

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::*;
fn parse(s: Option<&str>) -> Result<docker_vocab::filters::Filters, docker_vocab::filters::FilterError> {
    docker_vocab::filters::Filters::from_query(s)
}
use crate::image::build::{NewImage, create_image};
use crate::image::store::ImageRecord;
use crate::image::unpack::tests::{Raw, raw_tar};
use crate::image::users::{ImageUse, ImageUsers};

struct Containers(Mutex<Vec<ImageUse>>);

impl ImageUsers for Containers {
    fn image_users(&self) -> Vec<ImageUse> {
        self.0.lock().unwrap().clone()
    }
}

fn uses(image: &ImageRecord, container: &str, running: bool) -> ImageUse {
    ImageUse { image: image.id.clone(), container: container.repeat(64 / container.len()), running }
}

fn image(store: &Store, name: &[u8], labels: Value, tags: &[&str]) -> ImageRecord {
    let img = NewImage { config: json!({"Labels": labels}), ..NewImage::new(vec![raw_tar(&[Raw::file(name, name)])]) };
    let refs: Vec<ImageRef> = tags.iter().map(|t| ImageRef::parse(t).unwrap()).collect();
    create_image(store, img, &refs).unwrap()
}

fn prune_with(store: &Store, filters: &str) -> ImagePruneResponse {
    prune(store, &PruneFilter::new(&parse(Some(filters)).unwrap()).unwrap()).unwrap()
}

fn deleted(r: &ImagePruneResponse) -> Vec<String> {
    r.images_deleted.iter().flatten().filter_map(|i| i.deleted.clone()).collect()
}

#[test]
fn images_in_use_are_not_deleted_and_prune_spares_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let used = image(&store, b"u", json!({}), &["used:1"]);
    let running = image(&store, b"r", json!({}), &["run:1"]);
    let tagged = image(&store, b"t", json!({"keep": "yes"}), &["kept:1"]);
    let dangling = image(&store, b"d", json!({}), &[]);
    let dangling_used = image(&store, b"x", json!({}), &[]);
    store.set_users(Arc::new(Containers(Mutex::new(vec![
        uses(&used, "a", false),
        uses(&running, "b", true),
        uses(&dangling_used, "c", false),
    ]))));

    let e = remove(&store, "used:1", false).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(e.to_string().contains("(must force) - container aaaaaaaaaaaa is using its referenced image"), "{e}");
    let e = remove(&store, &used.id.to_string(), false).unwrap_err();
    assert!(e.to_string().contains("(must be forced) - image is being used by stopped container aaaaaaaaaaaa"), "{e}");
    let e = remove(&store, &running.id.to_string(), true).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(
        e.to_string().contains("(cannot be forced) - image is being used by running container bbbbbbbbbbbb"),
        "{e}"
    );
    // Forced over a stopped container: the name goes, the image stays.
    let out = remove(&store, "used:1", true).unwrap();
    assert_eq!(serde_json::to_value(&out).unwrap(), json!([{"Untagged": "used:1"}]));
    assert!(store.contains(&used.id));

    // Prune: dangling and unused only, then everything unused but labelled `keep`.
    let r = prune_with(&store, "{}");
    assert_eq!(serde_json::to_value(r.images_deleted.clone()).unwrap(), json!([{"Deleted": dangling.id.to_string()}]));
    assert!(r.space_reclaimed.is_some_and(|n| n > 0), "{r:?}");
    let r = prune_with(&store, r#"{"dangling":["false"],"label!":["keep"]}"#);
    assert_eq!(r.images_deleted, None, "everything left is in use or labelled keep: {r:?}");
    for kept in [&used, &running, &tagged, &dangling_used] {
        assert!(store.contains(&kept.id));
    }
    let e = PruneFilter::new(&parse(Some(r#"{"until":["soon"]}"#)).unwrap()).err().unwrap();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(PruneFilter::new(&parse(Some(r#"{"colour":["red"]}"#)).unwrap()).is_err());
}

#[test]
fn prune_label_values_are_anded() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let both = image(&store, b"ab", json!({"a": "1", "b": "1"}), &["both:1"]);
    let only_a = image(&store, b"a", json!({"a": "1"}), &["a:1"]);
    let r = prune_with(&store, r#"{"dangling":["false"],"label":["a=1","b=1"]}"#);
    assert_eq!(deleted(&r), [both.id.to_string()]);
    assert!(store.contains(&only_a.id));
    // `label!` as moby's prune reads it: the image is spared only when every
    // value holds.
    let r = prune_with(&store, r#"{"dangling":["false"],"label!":["a=1","b=1"]}"#);
    assert_eq!(deleted(&r), [only_a.id.to_string()]);
}

#[test]
fn a_delete_by_id_of_an_image_in_two_repositories_must_be_forced() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let rec = image(&store, b"m", json!({}), &["one:1", "two:1"]);
    let e = remove(&store, &rec.id.to_string(), false).unwrap_err();
    assert!(matches!(e, RemovalError::MultipleRepositories { .. }), "{e}");
    let out = serde_json::to_value(remove(&store, &rec.id.to_string(), true).unwrap()).unwrap();
    assert_eq!(out, json!([{"Untagged": "one:1"}, {"Untagged": "two:1"}, {"Deleted": rec.id.to_string()}]));
    assert!(!store.contains(&rec.id));
    assert_eq!(remove(&store, "one:1", false).unwrap_err().kind(), ErrorKind::NotFound);
}
