//! Save and load: round trips in both layouts, and archives that must be
//! refused with nothing left in the store.

use std::path::Path;

use serde_json::json;

use super::*;
use crate::image::archive::save::{SaveItem, save};
use crate::image::build::{NewImage, create_image};
use crate::image::unpack::tests::{Raw, raw_tar};

fn store() -> (tempfile::TempDir, std::sync::Arc<Store>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path()).expect("store");
    (dir, s)
}

fn two_layer_image(s: &Store) -> ImageRecord {
    let img = NewImage {
        config: json!({"Cmd": ["sh"]}),
        ..NewImage::new(vec![raw_tar(&[Raw::file(b"a", b"1")]), raw_tar(&[Raw::file(b"b", b"2")])])
    };
    create_image(s, img, &[ImageRef::parse("shop/web:1").expect("ref")]).expect("create")
}

fn saved(s: &Store, rec: &ImageRecord, named: bool) -> Vec<u8> {
    let names = if named { vec![("docker.io/shop/web:1".to_string(), "shop/web:1".to_string())] } else { Vec::new() };
    let mut out = Vec::new();
    save(s, &[SaveItem { record: rec.clone(), names }], &mut out).expect("save");
    out
}

/// The archive with `keep` deciding which entries stay and `edit` changing them.
fn rewrite(archive: &[u8], keep: impl Fn(&str) -> bool, edit: impl Fn(&str, Vec<u8>) -> Vec<u8>) -> Vec<u8> {
    let mut ar = tar::Archive::new(archive);
    let mut b = tar::Builder::new(Vec::new());
    for e in ar.entries().expect("entries") {
        let mut e = e.expect("entry");
        let name = e.path().expect("path").display().to_string();
        if !keep(&name) {
            continue;
        }
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).expect("read");
        let data = edit(&name, data);
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, &name, &data[..]).expect("append");
    }
    b.into_inner().expect("tar")
}

fn assert_empty(s: &Store) {
    assert!(s.list().is_empty(), "an image is listed");
    s.gc().expect("gc");
    for d in ["blobs/sha256", "layers/sha256"] {
        let left: Vec<_> = std::fs::read_dir(s.root().join(d)).expect("dir").collect();
        assert!(left.is_empty(), "{d} keeps {left:?}");
    }
    let tmp: Vec<_> = std::fs::read_dir(s.root().join("tmp")).expect("tmp").collect();
    assert!(tmp.is_empty(), "tmp keeps {tmp:?}");
}

#[test]
fn docker_archive_round_trip_keeps_id_tags_and_layers() {
    let (_a, src) = store();
    let rec = two_layer_image(&src);
    let archive = saved(&src, &rec, true);
    let (_b, dst) = store();
    let loaded = load(&dst, &archive[..], |_| {}).expect("load");
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].record.id, rec.id, "the image ID is the config digest and survives");
    assert_eq!(loaded[0].tags, vec!["shop/web:1".to_string()]);
    assert_eq!(dst.resolve("shop/web:1").expect("tagged").id, rec.id);
    for l in &rec.layers {
        assert!(dst.has_layer(&l.diff_id));
    }
    // Loading again changes nothing and fails nothing.
    load(&dst, &archive[..], |_| {}).expect("reload");
    assert_eq!(dst.list().len(), 1);
}

#[test]
fn oci_layout_alone_loads_with_its_name_annotation() {
    let (_a, src) = store();
    let rec = two_layer_image(&src);
    let archive = rewrite(&saved(&src, &rec, true), |n| n != "manifest.json" && n != "repositories", |_, d| d);
    let (_b, dst) = store();
    let loaded = load(&dst, &archive[..], |_| {}).expect("load");
    assert_eq!(loaded[0].tags, vec!["shop/web:1".to_string()]);
    assert_eq!(loaded[0].record.id, rec.id);
}

#[test]
fn unnamed_images_load_by_id() {
    let (_a, src) = store();
    let rec = two_layer_image(&src);
    let (_b, dst) = store();
    let loaded = load(&dst, &saved(&src, &rec, false)[..], |_| {}).expect("load");
    assert!(loaded[0].tags.is_empty());
    assert_eq!(dst.resolve(rec.id.as_str()).expect("by id").id, rec.id);
}

#[test]
fn entry_climbing_out_of_the_archive_is_refused() {
    let (dir, dst) = store();
    let mut evil = raw_tar(&[Raw::file(b"../../escaped", b"x")]);
    evil.truncate(evil.len() - 1024); // let the real archive follow
    let err = load(&dst, &evil[..], |_| {}).expect_err("refused").to_string();
    assert!(err.contains("leaves the archive"), "{err}");
    assert!(!dir.path().join("escaped").exists() && !Path::new("/tmp/escaped").exists());
    assert_empty(&dst);
}

#[test]
fn blob_that_does_not_match_its_name_is_refused_and_nothing_is_kept() {
    let (_a, src) = store();
    let rec = two_layer_image(&src);
    let top = rec.layers[1].digest.hex().to_string();
    let archive = rewrite(
        &saved(&src, &rec, true),
        |n| n != "manifest.json",
        |n, d| {
            if n.ends_with(&top) { crate::image::unpack::tests::gzip(&raw_tar(&[Raw::file(b"b", b"evil")])) } else { d }
        },
    );
    let (_b, dst) = store();
    let err = load(&dst, &archive[..], |_| {}).expect_err("refused").to_string();
    assert!(err.contains("does not match its digest"), "{err}");
    assert_empty(&dst);
}

#[test]
fn layer_whose_diff_id_differs_from_the_config_is_refused() {
    let (_a, src) = store();
    let rec = two_layer_image(&src);
    let top = rec.layers[1].digest.hex().to_string();
    // docker-archive: layer files carry no digest of their own, the config's
    // diffIDs are what they are checked against.
    let archive = rewrite(
        &saved(&src, &rec, true),
        |n| n != "index.json",
        |n, d| if n.ends_with(&top) { raw_tar(&[Raw::file(b"b", b"evil")]) } else { d },
    );
    let (_b, dst) = store();
    let err = load(&dst, &archive[..], |_| {}).expect_err("refused").to_string();
    assert!(err.contains("digest mismatch"), "{err}");
    assert_empty(&dst);
}

#[test]
fn truncated_and_foreign_archives_are_refused() {
    let (_a, src) = store();
    let rec = two_layer_image(&src);
    let archive = saved(&src, &rec, true);
    let (_b, dst) = store();
    assert!(load(&dst, &archive[..archive.len() / 2], |_| {}).is_err());
    assert_empty(&dst);
    let err = load(&dst, &raw_tar(&[Raw::file(b"hello", b"x")])[..], |_| {}).expect_err("refused");
    assert!(matches!(err, LoadError::Unrecognised), "{err}");
    let err = load(&dst, &b"not a tar at all"[..], |_| {}).expect_err("refused");
    assert!(err.to_string().contains("archive"), "{err}");
    assert_empty(&dst);
}

/// An OCI layout whose index wraps the image in `n` nested indexes (each
/// listing the one below for linux/amd64).
fn nested(n: usize) -> Vec<u8> {
    let (_a, src) = store();
    let rec = two_layer_image(&src);
    let archive = rewrite(&saved(&src, &rec, true), |n| n != "manifest.json" && n != "repositories", |_, d| d);
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut ar = tar::Archive::new(&archive[..]);
    for e in ar.entries().expect("entries") {
        let mut e = e.expect("entry");
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).expect("read");
        files.push((e.path().expect("path").display().to_string(), data));
    }
    let at = files.iter().position(|(n, _)| n == "index.json").expect("index.json");
    let top: serde_json::Value = serde_json::from_slice(&files[at].1).expect("index");
    let mut desc = top["manifests"][0].clone();
    for _ in 0..n {
        let mut entry = desc.clone();
        entry["platform"] = json!({"architecture": "amd64", "os": "linux"});
        let index = serde_json::to_vec(&json!({"schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [entry]}))
        .expect("json");
        let digest = crate::image::digest::Digest::of(&index);
        files.push((format!("blobs/sha256/{}", digest.hex()), index.clone()));
        desc = json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest.to_string(),
            "size": index.len(), "annotations": top["manifests"][0]["annotations"].clone()});
    }
    files[at].1 = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [desc]})).expect("json");
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, &name, &data[..]).expect("append");
    }
    b.into_inner().expect("tar")
}

/// Indexes nested a few deep load; past the limit the load is refused
/// with nothing kept (the old load recursed once per level, without end).
#[test]
fn nested_indexes_load_up_to_a_depth_and_no_deeper() {
    let (_b, dst) = store();
    let loaded = load(&dst, &nested(3)[..], |_| {}).expect("three deep loads");
    assert_eq!(loaded[0].tags, vec!["shop/web:1".to_string()]);
    let (_c, dst) = store();
    let e = load(&dst, &nested(20)[..], |_| {}).expect_err("refused");
    assert!(e.to_string().contains("nested more than 8 deep"), "{e}");
    assert_empty(&dst);
}
