//! Push and pull against a real registry process: by tag and by digest,
//! every layer compression and both manifest formats, a multi-platform
//! index, basic auth with a wrong password, a corrupted blob, and a pull
//! interrupted half-way.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::super::build::{Compression, ManifestFormat, NewImage, create_image};
use super::super::digest::Digest;
use super::super::endpoints::{Endpoint, RegistryConfig, Transport};
use super::super::manifest;
use super::super::progress::{Progress, ProgressEvent};
use super::super::pull::{PullError, pull};
use super::super::push::push;
use super::super::reference::ImageRef;
use super::super::registry::{Credentials, Registry, RegistryError};
use super::super::store::{ImageRecord, Store};
use super::super::unpack::tests::{Raw, raw_tar};
use berth_test_support::registry::TestRegistry;

use super::{fresh_store, r};

/// Three layers: files, a symlink and a hardlink; then a whiteout, an
/// opaque directory and a replaced file; then a read-only directory.
fn sample_layers() -> Vec<Vec<u8>> {
    vec![
        raw_tar(&[
            Raw::dir(b"etc/"),
            Raw::file(b"etc/hostname", b"berth\n"),
            Raw::file(b"etc/doomed", b"to be whited out"),
            Raw::hardlink(b"etc/hostname.link", b"etc/hostname"),
            Raw::dir(b"bin/"),
            Raw::file(b"bin/busybox", b"\x7fELF not really"),
            Raw::symlink(b"bin/sh", b"busybox"),
            Raw::dir(b"var/cache/"),
            Raw::file(b"var/cache/old", b"old"),
        ]),
        raw_tar(&[
            Raw::file(b"etc/.wh.doomed", b""),
            Raw::dir(b"var/cache/"),
            Raw::file(b"var/cache/.wh..wh..opq", b""),
            Raw::file(b"var/cache/new", b"new"),
            Raw::file(b"etc/hostname", b"replaced\n"),
        ]),
        raw_tar(&[Raw { mode: 0o555, ..Raw::dir(b"ro/") }, Raw::file(b"ro/readme", b"read only")]),
    ]
}

/// A comparable description of an unpacked tree: type, mode, owner, size,
/// content, link target, device number and link count of every entry.
fn fingerprint(root: &Path) -> BTreeMap<PathBuf, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).expect("read_dir").map(|e| e.expect("entry").path()).collect();
        entries.sort();
        for p in entries {
            let m = std::fs::symlink_metadata(&p).expect("lstat");
            let ft = m.file_type();
            let what = if ft.is_symlink() {
                format!("link -> {}", std::fs::read_link(&p).expect("readlink").display())
            } else if ft.is_dir() {
                "dir".to_string()
            } else if ft.is_char_device() {
                format!("char {}", m.rdev())
            } else {
                format!("file {} nlink {}", Digest::of(&std::fs::read(&p).expect("read")), m.nlink())
            };
            let opaque = xattr::get(&p, "trusted.overlay.opaque")
                .ok()
                .flatten()
                .map(|v| String::from_utf8_lossy(&v).into_owned());
            let mode = if ft.is_symlink() { 0 } else { m.mode() & 0o7777 };
            out.insert(
                p.strip_prefix(root).expect("under root").to_path_buf(),
                format!("{what} mode {mode:o} owner {}:{} opaque {opaque:?}", m.uid(), m.gid()),
            );
            if ft.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn assert_same_image(a: (&Store, &ImageRecord), b: (&Store, &ImageRecord)) {
    assert_eq!(a.1.id, b.1.id, "image IDs");
    assert_eq!(a.1.manifest, b.1.manifest, "manifest digests");
    assert_eq!(a.1.layers, b.1.layers, "layer records");
    for (la, lb) in a.0.lower_dirs(a.1).iter().zip(b.0.lower_dirs(b.1)) {
        let fa = fingerprint(la);
        assert!(!fa.is_empty());
        assert_eq!(fa, fingerprint(&lb), "unpacked trees of {}", la.display());
    }
}

fn collect(mut rx: tokio::sync::mpsc::UnboundedReceiver<ProgressEvent>) -> Vec<ProgressEvent> {
    let mut v = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        v.push(ev);
    }
    v
}

/// A refused pull left no image, blob, layer or staged file.
fn assert_nothing_stored(dst: &Store) {
    assert!(dst.list().is_empty(), "no image listed");
    for sub in ["blobs/sha256", "layers/sha256", "tmp"] {
        let left: Vec<_> = std::fs::read_dir(dst.root().join(sub)).expect("read_dir").collect();
        assert!(left.is_empty(), "{sub} must be empty after a refused pull: {left:?}");
    }
}

fn statuses(events: &[ProgressEvent]) -> Vec<&str> {
    events.iter().map(|e| e.status.as_str()).collect()
}

/// Builds `img` in a scratch store and pushes it as `target`.
async fn build_and_push(
    img: NewImage,
    target: &ImageRef,
    creds: &Credentials,
) -> (tempfile::TempDir, Arc<Store>, ImageRecord) {
    let (dir, store) = fresh_store();
    let rec = create_image(&store, img, std::slice::from_ref(target)).expect("create image");
    push(&store, &RegistryConfig::default(), &target.to_string(), target, creds, &Progress::default())
        .await
        .expect("push");
    (dir, store, rec)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_then_pull_by_tag_and_by_digest_reproduces_the_image() {
    let reg = TestRegistry::start();
    let target = r(&format!("{}/berth/sample:v1", reg.host));
    let (_d, src, rec) = build_and_push(NewImage::new(sample_layers()), &target, &Credentials::Anonymous).await;

    let (_d2, by_tag) = fresh_store();
    let (progress, rx) = Progress::channel();
    let pulled = pull(&by_tag, &RegistryConfig::default(), &target, &Credentials::Anonymous, &progress)
        .await
        .expect("pull by tag");
    drop(progress);
    assert!(!pulled.up_to_date);
    assert_eq!(pulled.digest, rec.manifest);
    assert_same_image((&src, &rec), (&by_tag, &pulled.record));
    let events = collect(rx);
    let st = statuses(&events);
    assert!(st.contains(&"Pulling fs layer") && st.contains(&"Pull complete"), "{st:?}");
    assert!(st.contains(&format!("Digest: {}", rec.manifest).as_str()), "{st:?}");
    let listed = by_tag.list();
    assert_eq!(listed[0].tags, vec![format!("{}/berth/sample:v1", reg.host)]);
    assert_eq!(listed[0].repo_digests, vec![format!("{}/berth/sample@{}", reg.host, rec.manifest)]);

    // The whiteout and the opaque directory took effect in the top layer.
    let lowers = by_tag.lower_dirs(&pulled.record);
    let upper = &lowers[1];
    if nix::unistd::geteuid().is_root() {
        assert!(std::fs::symlink_metadata(upper.join("etc/doomed")).expect("whiteout").file_type().is_char_device());
        assert_eq!(
            xattr::get(upper.join("var/cache"), "trusted.overlay.opaque").expect("xattr").as_deref(),
            Some(&b"y"[..])
        );
    }
    assert_eq!(std::fs::read_link(lowers[2].join("bin/sh")).expect("symlink"), Path::new("busybox"));

    // Pulled again: nothing downloaded, the image is up to date.
    let (progress, rx) = Progress::channel();
    let again = pull(&by_tag, &RegistryConfig::default(), &target, &Credentials::Anonymous, &progress)
        .await
        .expect("pull again");
    drop(progress);
    assert!(again.up_to_date);
    assert!(statuses(&collect(rx)).contains(&"Already exists"));

    let (_d3, by_digest) = fresh_store();
    let pinned = r(&format!("{}/berth/sample@{}", reg.host, rec.manifest));
    let pulled = pull(&by_digest, &RegistryConfig::default(), &pinned, &Credentials::Anonymous, &Progress::default())
        .await
        .expect("pull by digest");
    assert_same_image((&src, &rec), (&by_digest, &pulled.record));
    let listed = by_digest.list();
    assert!(listed[0].tags.is_empty(), "a digest pull adds no tag");
    assert_eq!(by_digest.resolve(&pinned.to_string()).expect("resolve by digest").id, rec.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zstd_uncompressed_and_docker_schema2_images_round_trip() {
    let reg = TestRegistry::start();
    for (tag, compression, format) in [
        ("zstd", Compression::Zstd, ManifestFormat::Oci),
        ("plain", Compression::None, ManifestFormat::Oci),
        ("docker", Compression::Gzip, ManifestFormat::Docker),
    ] {
        let target = r(&format!("{}/berth/formats:{tag}", reg.host));
        let img = NewImage { compression, format, ..NewImage::new(sample_layers()) };
        let (_d, src, rec) = build_and_push(img, &target, &Credentials::Anonymous).await;
        let (_d2, dst) = fresh_store();
        let pulled = pull(&dst, &RegistryConfig::default(), &target, &Credentials::Anonymous, &Progress::default())
            .await
            .unwrap_or_else(|e| panic!("{tag}: {e}"));
        assert_same_image((&src, &rec), (&dst, &pulled.record));
        let expected_type =
            if format == ManifestFormat::Docker { manifest::DOCKER_MANIFEST } else { manifest::OCI_MANIFEST };
        assert_eq!(pulled.record.manifest_media_type, expected_type, "{tag}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_with_several_platforms_pulls_the_amd64_image() {
    let reg = TestRegistry::start();
    let repo = format!("{}/berth/multi", reg.host);
    let amd = NewImage::new(vec![raw_tar(&[Raw::file(b"arch", b"amd64")])]);
    let arm =
        NewImage { architecture: "arm64".into(), ..NewImage::new(vec![raw_tar(&[Raw::file(b"arch", b"arm64")])]) };
    let (_a, amd_store, amd_rec) = build_and_push(amd, &r(&format!("{repo}:amd64")), &Credentials::Anonymous).await;
    let (_b, _arm_store, arm_rec) = build_and_push(arm, &r(&format!("{repo}:arm64")), &Credentials::Anonymous).await;

    let entry = |rec: &ImageRecord, store: &Store, arch: &str| {
        let size = store.read_blob(&rec.manifest).expect("manifest").len();
        serde_json::json!({"mediaType": manifest::OCI_MANIFEST, "digest": rec.manifest.to_string(), "size": size,
                           "platform": {"architecture": arch, "os": "linux"}})
    };
    // The arm64 entry first, so that taking the first entry would be wrong.
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": manifest::OCI_INDEX,
        "manifests": [entry(&arm_rec, &_arm_store, "arm64"), entry(&amd_rec, &amd_store, "amd64")]});
    let index_bytes = serde_json::to_vec(&index).expect("index json");
    let multi = r(&format!("{repo}:multi"));
    let plain = Endpoint { mirror: None, transport: Transport::Http };
    let client =
        Registry::connect(&RegistryConfig::default(), &plain, &multi, &Credentials::Anonymous).await.expect("connect");
    client.push_manifest(&multi, index_bytes.clone().into(), manifest::OCI_INDEX).await.expect("push index");

    let (_d, dst) = fresh_store();
    let pulled = pull(&dst, &RegistryConfig::default(), &multi, &Credentials::Anonymous, &Progress::default())
        .await
        .expect("pull");
    assert_eq!(pulled.record.id, amd_rec.id, "the amd64 image was chosen");
    assert_eq!(pulled.digest, Digest::of(&index_bytes), "Docker reports the index digest");
    let lower = &dst.lower_dirs(&pulled.record)[0];
    assert_eq!(std::fs::read(lower.join("arch")).expect("arch file"), b"amd64");
    assert_eq!(dst.list()[0].repo_digests, vec![format!("{repo}@{}", Digest::of(&index_bytes))]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_works_and_a_wrong_password_is_a_clear_401() {
    let reg = TestRegistry::start_with_basic_auth("berth", "s3cret");
    let target = r(&format!("{}/private/app:1", reg.host));
    let good = Credentials::Basic { username: "berth".into(), password: "s3cret".into() };
    let (_d, src, rec) = build_and_push(NewImage::new(sample_layers()), &target, &good).await;

    let (_d2, dst) = fresh_store();
    let wrong = Credentials::Basic { username: "berth".into(), password: "wrong".into() };
    for creds in [wrong, Credentials::Anonymous] {
        let e = pull(&dst, &RegistryConfig::default(), &target, &creds, &Progress::default())
            .await
            .expect_err("must be refused");
        assert!(matches!(e, PullError::Registry(RegistryError::Unauthorized { .. })), "{creds:?}: {e:?}");
        let msg = e.to_string();
        assert!(msg.contains("401") && msg.contains("unauthorized"), "{msg}");
        assert!(dst.list().is_empty());
    }
    let pulled =
        pull(&dst, &RegistryConfig::default(), &target, &good, &Progress::default()).await.expect("pull with password");
    assert_same_image((&src, &rec), (&dst, &pulled.record));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_that_does_not_match_its_digest_is_rejected_and_nothing_is_stored() {
    let reg = TestRegistry::start();
    let target = r(&format!("{}/berth/corrupt:v1", reg.host));
    let (_d, _src, rec) = build_and_push(NewImage::new(sample_layers()), &target, &Credentials::Anonymous).await;
    // Same length, different bytes: only the digest can tell.
    let victim = &rec.layers[1].digest;
    let path = reg.blob_data_path(victim);
    let len = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{}: {e}\n{}", path.display(), reg.log())).len();
    std::fs::write(&path, vec![0x5a; len as usize]).expect("corrupt the blob");

    let (_d2, dst) = fresh_store();
    let e = pull(&dst, &RegistryConfig::default(), &target, &Credentials::Anonymous, &Progress::default())
        .await
        .expect_err("must reject");
    assert!(
        matches!(&e, PullError::DigestMismatch { expected, .. } if expected == victim)
            || matches!(e, PullError::Registry(RegistryError::DigestMismatch { .. })),
        "{e:?}"
    );
    assert_nothing_stored(&dst);
}

/// A layer blob longer than its descriptor's size (a registry that would
/// fill the disk) is cut off at size + one chunk, before its digest could
/// be checked, and nothing is stored. Before the check the whole blob was
/// written, then refused by digest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_longer_than_its_descriptor_is_cut_off_and_nothing_is_stored() {
    let reg = TestRegistry::start();
    let target = r(&format!("{}/berth/endless:v1", reg.host));
    let (_d, _src, rec) = build_and_push(NewImage::new(sample_layers()), &target, &Credentials::Anonymous).await;
    let victim = &rec.layers[0].digest;
    let path = reg.blob_data_path(victim);
    let mut data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}\n{}", path.display(), reg.log()));
    data.extend(std::iter::repeat_n(0u8, 8 << 20));
    std::fs::write(&path, &data).expect("grow the blob");

    let (_d2, dst) = fresh_store();
    let e = pull(&dst, &RegistryConfig::default(), &target, &Credentials::Anonymous, &Progress::default())
        .await
        .expect_err("must refuse");
    assert!(matches!(&e, PullError::Oversized { digest, .. } if digest == victim), "{e:?}");
    assert!(e.to_string().contains("larger than the"), "{e}");
    assert_nothing_stored(&dst);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_pull_lists_nothing_after_reopen_and_can_be_repeated() {
    let reg = TestRegistry::start();
    let target = r(&format!("{}/berth/big:v1", reg.host));
    // Four 4 MiB incompressible layers, fetched one at a time, so that the
    // pull is stopped with most of its work still ahead of it.
    let layers = (0u32..4)
        .map(|n| {
            let noise: Vec<u8> =
                (0u32..4 << 20).map(|i| (i.wrapping_add(n).wrapping_mul(2_654_435_761) >> 11) as u8).collect();
            raw_tar(&[Raw::file(format!("layer{n}").as_bytes(), &noise)])
        })
        .collect();
    let img = NewImage { compression: Compression::None, ..NewImage::new(layers) };
    let (_d, src, rec) = build_and_push(img, &target, &Credentials::Anonymous).await;

    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = RegistryConfig::default();
    cfg.max_concurrent_downloads = 1;
    {
        let store = Store::open(dir.path()).expect("open");
        let (progress, mut rx) = Progress::channel();
        let (s, c, t) = (store.clone(), cfg.clone(), target.clone());
        let task = tokio::spawn(async move { pull(&s, &c, &t, &Credentials::Anonymous, &progress).await });
        while let Some(ev) = rx.recv().await {
            if ev.status == "Download complete" {
                break;
            }
        }
        task.abort();
        let joined = task.await;
        assert!(joined.as_ref().is_err_and(|e| e.is_cancelled()), "the pull must have been interrupted: {joined:?}");
        assert!(store.list().is_empty(), "nothing listed mid-pull");
        // A killed engine releases its store lock at once; an aborted task's
        // blocking unpack (which cannot be cancelled) has to finish first.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while Arc::strong_count(&store) > 1 {
            assert!(std::time::Instant::now() < deadline, "the aborted pull still holds the store");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    let store = Store::open(dir.path()).expect("reopen after the interruption");
    assert!(store.list().is_empty(), "no half image after reopen");
    for sub in ["blobs/sha256", "layers/sha256", "tmp"] {
        assert_eq!(std::fs::read_dir(store.root().join(sub)).expect("read_dir").count(), 0, "{sub} cleaned on reopen");
    }
    let pulled =
        pull(&store, &cfg, &target, &Credentials::Anonymous, &Progress::default()).await.expect("repeated pull");
    assert_same_image((&src, &rec), (&store, &pulled.record));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pulls_of_one_image_share_its_content() {
    let reg = TestRegistry::start();
    let target = r(&format!("{}/berth/twice:v1", reg.host));
    let (_d, src, rec) = build_and_push(NewImage::new(sample_layers()), &target, &Credentials::Anonymous).await;
    let (_d2, dst) = fresh_store();
    let spawn_pull = || {
        let (store, target) = (dst.clone(), target.clone());
        tokio::spawn(async move {
            pull(&store, &RegistryConfig::default(), &target, &Credentials::Anonymous, &Progress::default()).await
        })
    };
    let (first, second) = (spawn_pull(), spawn_pull());
    let a = first.await.expect("join").expect("first pull");
    let b = second.await.expect("join").expect("second pull");
    assert_eq!(a.record.id, b.record.id);
    assert_eq!(dst.list().len(), 1);
    assert_same_image((&src, &rec), (&dst, &a.record));
    assert!(std::fs::read_dir(dst.root().join("tmp")).expect("tmp").next().is_none(), "no staging left behind");
}

/// A registry serving a config blob over the cap: the pull is refused with
/// the cap named, before the body is read whole (the old pull read all of
/// it into memory and only then found the digest wrong), and nothing is
/// stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_config_blob_is_refused_at_the_cap() {
    let reg = TestRegistry::start();
    let target = r(&format!("{}/berth/bigconfig:v1", reg.host));
    let (_d, _src, rec) = build_and_push(NewImage::new(sample_layers()), &target, &Credentials::Anonymous).await;
    let path = reg.blob_data_path(&rec.id);
    std::fs::write(&path, vec![b' '; super::super::registry::SMALL_BLOB_LIMIT + 1])
        .unwrap_or_else(|e| panic!("{}: {e}\n{}", path.display(), reg.log()));

    let (_d2, dst) = fresh_store();
    let e = pull(&dst, &RegistryConfig::default(), &target, &Credentials::Anonymous, &Progress::default())
        .await
        .expect_err("must refuse");
    assert!(
        matches!(&e, PullError::Registry(RegistryError::Protocol { .. })) && e.to_string().contains("larger than"),
        "{e:?}"
    );
    assert!(dst.list().is_empty(), "no image listed");
}
