//! The store's guarantees without a registry: atomic visibility, crash
//! recovery on reopen, GC that respects images and leases, the lock.

use super::super::build::{NewImage, create_image};
use super::super::unpack::tests::{Raw, raw_tar};
use super::*;

fn r(s: &str) -> ImageRef {
    ImageRef::parse(s).expect("reference")
}

fn two_layer_image() -> NewImage {
    NewImage::new(vec![
        raw_tar(&[Raw::dir(b"etc/"), Raw::file(b"etc/base", b"base")]),
        raw_tar(&[Raw::file(b"etc/top", b"top")]),
    ])
}

#[test]
fn created_image_is_listed_resolvable_and_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let rec = create_image(&store, two_layer_image(), &[r("app:v1")]).expect("create");
    let list = store.list();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].tags, vec!["docker.io/library/app:v1".to_string()]);
    assert_eq!(store.resolve("app:v1").expect("by name").id, rec.id);
    assert_eq!(store.resolve(rec.id.short()).expect("by short id").id, rec.id);
    assert_eq!(store.resolve(rec.id.as_str()).expect("by id").id, rec.id);
    assert!(matches!(store.resolve("app:v2"), Err(StoreError::NotFound(_))));
    let lowers = store.lower_dirs(&rec);
    assert_eq!(std::fs::read(lowers[0].join("etc/top")).expect("top layer first"), b"top");
    assert_eq!(std::fs::read(lowers[1].join("etc/base")).expect("base layer last"), b"base");
    drop(store);

    let store = Store::open(dir.path()).expect("reopen");
    assert_eq!(store.resolve("app:v1").expect("after reopen"), rec);
    assert!(store.has_layer(&rec.layers[1].diff_id));
}

#[test]
fn second_engine_on_the_same_root_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _first = Store::open(dir.path()).expect("open");
    assert!(matches!(Store::open(dir.path()), Err(StoreError::Locked { .. })));
}

#[test]
fn content_stored_without_a_commit_is_gone_after_a_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    // What a pull killed before its commit leaves: a verified blob, an
    // unpacked layer, a half-written download and a half-unpacked layer.
    let tar = raw_tar(&[Raw::file(b"f", b"x")]);
    let lease = store.lease();
    let blob = store.put_blob(&tar, None, &lease).expect("blob");
    store.unpack_blob(&blob, &Digest::of(&tar), &lease).expect("unpack");
    std::fs::write(store.staging_path("blob"), b"partial download").expect("partial");
    std::fs::create_dir(store.staging_path("layer")).expect("partial layer");
    std::mem::forget(lease); // a crash runs no destructors
    drop(store);

    let store = Store::open(dir.path()).expect("reopen");
    assert!(store.list().is_empty());
    assert!(!store.has_blob(&blob), "unreferenced blob collected on open");
    assert!(!store.has_layer(&Digest::of(&tar)), "unreferenced layer collected on open");
    assert!(fsutil::list_dir(&store.root().join("tmp")).expect("tmp").is_empty(), "staging wiped");
}

#[test]
fn gc_spares_leased_and_shared_content_and_collects_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let a = create_image(&store, two_layer_image(), &[r("a")]).expect("a");
    let mut b_img = two_layer_image();
    b_img.layers.push(raw_tar(&[Raw::file(b"only-b", b"b")]));
    let b = create_image(&store, b_img, &[r("b")]).expect("b");
    assert_eq!(a.layers[0], b.layers[0], "identical layers are shared");

    let lease = store.lease();
    let held = store.put_blob(b"in flight", None, &lease).expect("held blob");
    assert!(store.gc().expect("gc").is_empty(), "nothing to collect yet");
    assert!(store.has_blob(&held));

    store.delete_image(&b.id).expect("delete b");
    let report = store.gc().expect("gc");
    assert_eq!(report.layers, vec![b.layers[2].diff_id.clone()]);
    assert!(store.has_layer(&a.layers[0].diff_id) && store.has_layer(&a.layers[1].diff_id));
    assert!(!store.has_blob(&b.id) && !store.has_blob(&b.manifest));
    assert!(store.has_blob(&held), "leased blob kept");
    drop(lease);
    store.gc().expect("gc");
    assert!(!store.has_blob(&held), "released blob collected");
    assert_eq!(store.resolve("a").expect("a stays").id, a.id);
}

#[test]
fn commit_of_an_image_with_missing_content_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let ghost = Digest::of(b"never stored");
    let rec = ImageRecord {
        id: ghost.clone(),
        manifest: ghost.clone(),
        manifest_media_type: String::new(),
        config_media_type: String::new(),
        layers: vec![],
        stored_at: 0,
        parent: None,
    };
    assert!(matches!(store.commit_image(rec, &["docker.io/library/x:latest".into()]), Err(StoreError::Missing { .. })));
    assert!(store.list().is_empty());
}

#[test]
fn untag_leaves_a_dangling_image_and_tag_moves_references() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let rec = create_image(&store, two_layer_image(), &[r("x:1")]).expect("create");
    store.tag(&r("localhost:5000/y:2"), &rec.id).expect("tag");
    assert_eq!(store.list()[0].tags.len(), 2);
    store.untag(&r("x:1")).expect("untag");
    store.untag(&r("localhost:5000/y:2")).expect("untag");
    let list = store.list();
    assert_eq!((list.len(), list[0].tags.len()), (1, 0), "dangling image kept until deleted");
    assert!(matches!(store.untag(&r("x:1")), Err(StoreError::NotFound(_))));
}
