//! Registry mirrors and insecure registries against real registry
//! processes: a Docker Hub name pulled through a loopback mirror (which
//! proves itself by serving an image the Hub does not have), mirrors that
//! fail falling through to the next, names of other registries never sent
//! to a mirror, and a registry whose TLS certificate nobody trusts.

use super::super::build::{NewImage, create_image};
use super::super::distribution;
use super::super::endpoints::RegistryConfig;
use super::super::progress::Progress;
use super::super::pull::pull;
use super::super::push::push;
use super::super::reference::ImageRef;
use super::super::registry::Credentials;
use super::super::store::ImageRecord;
use super::super::unpack::tests::{Raw, raw_tar};
use berth_test_support::registry::TestRegistry;

use super::{fresh_store, r};

fn mirrors(urls: &[String]) -> RegistryConfig {
    RegistryConfig::new(urls, &[]).expect("valid mirrors")
}

/// Pushes a one-file image (its content names `what`, so every call makes
/// an image of its own) to `target`; returns its record.
async fn seed(cfg: &RegistryConfig, target: &ImageRef, what: &str) -> (tempfile::TempDir, ImageRecord) {
    let (dir, store) = fresh_store();
    let layer = raw_tar(&[Raw::dir(b"etc/"), Raw::file(b"etc/origin", what.as_bytes())]);
    let rec = create_image(&store, NewImage::new(vec![layer]), std::slice::from_ref(target)).expect("create image");
    push(&store, cfg, &target.to_string(), target, &Credentials::Anonymous, &Progress::default()).await.expect("push");
    (dir, rec)
}

/// A loopback port that nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_docker_hub_name_is_pulled_through_the_mirror() {
    let mirror = TestRegistry::start();
    let (_d, seeded) =
        seed(&RegistryConfig::default(), &r(&format!("{}/library/busybox:latest", mirror.host)), "mirror").await;

    let cfg = mirrors(&[format!("http://{}", mirror.host)]);
    let (_d2, dst) = fresh_store();
    let pulled = pull(&dst, &cfg, &r("busybox"), &Credentials::Anonymous, &Progress::default())
        .await
        .unwrap_or_else(|e| panic!("pull through the mirror: {e}\n{}", mirror.log()));
    assert_eq!(pulled.record.id, seeded.id, "the mirror's image, which the Hub does not have");
    let listed = dst.list();
    assert_eq!(listed[0].tags, ["docker.io/library/busybox:latest"], "stored under the Hub's name");
    assert_eq!(listed[0].repo_digests, [format!("docker.io/library/busybox@{}", pulled.digest)]);

    // `GET /distribution` asks the mirror too.
    let seen = distribution::inspect(&cfg, &r("busybox:latest"), &Credentials::Anonymous).await.expect("inspect");
    assert_eq!(seen.descriptor.digest.as_deref(), Some(pulled.digest.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_mirror_falls_through_to_the_next() {
    let empty = TestRegistry::start();
    let good = TestRegistry::start();
    let (_d, seeded) =
        seed(&RegistryConfig::default(), &r(&format!("{}/library/alpine:3.10", good.host)), "good").await;
    // Refused connection, then a mirror without the image (404), then the one with it.
    let cfg = mirrors(&[
        format!("http://127.0.0.1:{}", closed_port()),
        format!("http://{}/", empty.host),
        format!("http://{}", good.host),
    ]);
    let (_d2, dst) = fresh_store();
    let pulled = pull(&dst, &cfg, &r("alpine:3.10"), &Credentials::Anonymous, &Progress::default())
        .await
        .expect("the third mirror serves it");
    assert_eq!(pulled.record.id, seeded.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_of_other_registries_never_go_to_a_mirror() {
    let mirror = TestRegistry::start();
    let other = TestRegistry::start();
    let name = "library/busybox:latest";
    let (_d, _in_mirror) = seed(&RegistryConfig::default(), &r(&format!("{}/{name}", mirror.host)), "mirror").await;
    let (_d2, in_other) = seed(&RegistryConfig::default(), &r(&format!("{}/{name}", other.host)), "other").await;
    let cfg = mirrors(&[format!("http://{}", mirror.host)]);
    let (_d3, dst) = fresh_store();
    let pulled = pull(&dst, &cfg, &r(&format!("{}/{name}", other.host)), &Credentials::Anonymous, &Progress::default())
        .await
        .expect("pull from the named registry");
    assert_eq!(pulled.record.id, in_other.id);
    // A name the named registry lacks is its 404, not the mirror's image.
    let e = pull(
        &dst,
        &cfg,
        &r(&format!("{}/library/nope:latest", other.host)),
        &Credentials::Anonymous,
        &Progress::default(),
    )
    .await
    .expect_err("not in the named registry");
    assert_eq!(e.kind(), crate::error_kind::ErrorKind::NotFound, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_insecure_registry_is_spoken_to_over_tls_without_verification() {
    // Loopback is insecure by default (Docker's 127.0.0.0/8): a
    // certificate nobody trusts is accepted.
    let reg = TestRegistry::start_with_self_signed_tls();
    let target = r(&format!("{}/berth/tls:v1", reg.host));
    let (_d, seeded) = seed(&RegistryConfig::default(), &target, "tls").await;
    let (_d2, dst) = fresh_store();
    let pulled = pull(&dst, &RegistryConfig::default(), &target, &Credentials::Anonymous, &Progress::default())
        .await
        .unwrap_or_else(|e| panic!("pull over unverified TLS: {e}\n{}", reg.log()));
    assert_eq!(pulled.record.id, seeded.id);

    // An https:// mirror on loopback: the same.
    let (_d3, _) =
        seed(&RegistryConfig::default(), &r(&format!("{}/library/hello-world:latest", reg.host)), "hello").await;
    let cfg = mirrors(&[format!("https://{}", reg.host)]);
    let (_d4, dst) = fresh_store();
    pull(&dst, &cfg, &r("hello-world"), &Credentials::Anonymous, &Progress::default())
        .await
        .expect("pull via TLS mirror");
}
