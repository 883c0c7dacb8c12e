use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bollard_stubs::models::{EndpointSettings, Ipam, IpamConfig, NetworkCreateRequest};

use super::*;
use crate::error_kind::ErrorKind;

fn req(name: &str) -> NetworkCreateRequest {
    NetworkCreateRequest { name: name.into(), ..Default::default() }
}

fn join<'a>(id: &'a str, name: &'a str, aliases: &[&str]) -> Join<'a> {
    Join {
        container_id: id,
        container_name: name,
        settings: Some(EndpointSettings {
            aliases: Some(aliases.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        }),
    }
}

#[test]
fn predefined_networks_exist_once_and_cannot_be_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nets = Networks::open(dir.path()).expect("open");
    let names: Vec<String> = nets.list().into_iter().map(|r| r.name).collect();
    for n in ["bridge", "host", "none"] {
        assert!(names.contains(&n.to_string()), "{names:?}");
        let err = nets.remove(n, &|_| true).expect_err("predefined");
        assert_eq!(err.kind(), ErrorKind::Forbidden, "{err}");
    }
    let bridge_id = nets.find("bridge").expect("bridge").id;
    drop(nets);
    let again = Networks::open(dir.path()).expect("reopen");
    assert_eq!(again.list().len(), 3, "reopening adds no second set");
    assert_eq!(again.find("bridge").expect("bridge").id, bridge_id, "ids are stable");
    assert_eq!(again.find("none").expect("none").driver, "null");
}

#[test]
fn create_inspect_remove_with_dockers_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nets = Networks::open(dir.path()).expect("open");
    let mut r = req("app_default");
    r.labels = Some(HashMap::from([("k".into(), "v".into())]));
    r.internal = Some(true);
    r.ipam = Some(Ipam {
        driver: None,
        config: Some(vec![IpamConfig {
            subnet: Some("10.9.0.0/24".into()),
            gateway: Some("10.9.0.1".into()),
            ..Default::default()
        }]),
        options: None,
    });
    let made = nets.create(r).expect("create");
    assert_eq!((made.driver.as_str(), made.scope.as_str(), made.internal), ("bridge", "local", true));
    assert_eq!(nets.create(req("app_default")).expect_err("duplicate").kind(), ErrorKind::Conflict);
    assert_eq!(nets.find(&made.id[..10]).expect("by id prefix").name, "app_default");
    assert_eq!(nets.find("nope").expect_err("missing").kind(), ErrorKind::NotFound);

    for bad in ["", " ", "a b", "-x"] {
        assert_eq!(nets.create(req(bad)).expect_err(bad).kind(), ErrorKind::Invalid, "{bad:?}");
    }
    assert_eq!(nets.create(req("_x")).expect("a leading underscore, as compose makes").name, "_x");
    let mut bad_ipam = req("x1");
    bad_ipam.ipam = Some(Ipam {
        config: Some(vec![IpamConfig { subnet: Some("10.0.0.0/40".into()), ..Default::default() }]),
        ..Default::default()
    });
    assert_eq!(nets.create(bad_ipam).expect_err("bad subnet").kind(), ErrorKind::Invalid);
    let mut overlay = req("x2");
    overlay.driver = Some("overlay".into());
    assert_eq!(nets.create(overlay).expect_err("no such driver").kind(), ErrorKind::NotFound);
    assert!(nets.find("x1").is_err() && nets.find("x2").is_err(), "refused creates leave nothing");

    // Persisted: a new engine sees it, labels and all.
    let reopened = Networks::open(dir.path()).expect("reopen");
    assert_eq!(reopened.find("app_default").expect("persisted"), made);
    reopened.remove("app_default", &|_| true).expect("remove");
    assert!(Networks::open(dir.path()).expect("reopen").find("app_default").is_err(), "removal persisted");
}

#[test]
fn endpoints_follow_connect_disconnect_and_container_liveness() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nets = Networks::open(dir.path()).expect("open");
    let alive = Arc::new(AtomicBool::new(true));
    let a = alive.clone();
    let live = move |id: &str| id != "c1" || a.load(Ordering::SeqCst);
    nets.create(req("front")).expect("create");
    nets.connect("front", join("c1", "/web", &["web", "www"]), &live).expect("connect");
    assert_eq!(nets.connect("front", join("c1", "/web", &[]), &live).expect_err("twice").kind(), ErrorKind::Forbidden);
    let eps = nets.endpoints_of("c1");
    let ep = &eps["front"];
    assert_eq!(ep.aliases.as_deref(), Some(&["web".to_string(), "www".to_string()][..]));
    assert_eq!(ep.network_id, Some(nets.find("front").expect("front").id));
    assert_eq!(ep.ip_address.as_deref(), Some("172.18.0.2"), "the first address of the first pool subnet");
    assert_eq!(ep.mac_address.as_deref(), Some("02:42:ac:12:00:02"));
    let model = nets.find("front").expect("front").model(true, &live);
    assert_eq!(model.containers.expect("containers")["c1"].name.as_deref(), Some("web"));

    assert_eq!(nets.remove("front", &live).expect_err("in use").kind(), ErrorKind::Conflict);
    assert!(nets.prune(&|_| false, &live).expect("prune").is_empty(), "prune keeps a network in use");

    // The container is removed without telling us: its endpoint no longer counts.
    alive.store(false, Ordering::SeqCst);
    let model = nets.find("front").expect("front").model(true, &live);
    assert!(model.containers.expect("containers").is_empty());
    assert_eq!(
        nets.prune(&|_| false, &live).expect("prune").into_iter().map(|r| r.name).collect::<Vec<_>>(),
        vec!["front".to_string()]
    );

    nets.create(req("back")).expect("create");
    alive.store(true, Ordering::SeqCst);
    nets.connect("back", join("c1", "web", &[]), &live).expect("connect");
    nets.disconnect("back", "c1").expect("disconnect");
    assert_eq!(nets.disconnect("back", "c1").expect_err("not connected").kind(), ErrorKind::Forbidden);
    nets.connect("back", join("c1", "web", &[]), &live).expect("reconnect");
    nets.forget_container("c1");
    assert!(nets.endpoints_of("c1").is_empty());
    nets.remove("back", &live).expect("remove once empty");
}

#[test]
fn subnets_are_assigned_checked_for_overlap_and_addresses_kept_across_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nets = Networks::open(dir.path()).expect("open");
    let v4 = |n: &str| nets.find(n).expect("net").v4().expect("v4");
    assert_eq!(v4("bridge").subnet.to_string(), "172.17.0.0/16");
    nets.create(req("a")).expect("a");
    assert_eq!(v4("a").subnet.to_string(), "172.18.0.0/16");
    let with_subnet = |name: &str, subnet: &str| NetworkCreateRequest {
        ipam: Some(Ipam {
            config: Some(vec![IpamConfig { subnet: Some(subnet.into()), ..Default::default() }]),
            ..Default::default()
        }),
        ..req(name)
    };
    // Not "b": a lookup falls back to ID prefixes, and a random ID may start with b.
    let err = nets.create(with_subnet("overlapping", "172.18.5.0/24")).expect_err("overlap");
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    assert_eq!(err.to_string(), "invalid pool request: Pool overlaps with other one on this address space");
    assert!(nets.find("overlapping").is_err(), "nothing made");
    nets.create(with_subnet("c", "10.1.0.0/24")).expect("c");
    assert_eq!(v4("c").gateway.to_string(), "10.1.0.1");
    let live = |_: &str| true;
    nets.connect("c", join("x1", "x1", &[]), &live).expect("x1");
    let wanted = Join {
        container_id: "x2",
        container_name: "x2",
        settings: Some(EndpointSettings {
            ipam_config: Some(bollard_stubs::models::EndpointIpamConfig {
                ipv4_address: Some("10.2.0.9".into()),
                ..Default::default()
            }),
            ..Default::default()
        }),
    };
    let err = nets.connect("c", wanted, &live).expect_err("outside");
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert!(err.to_string().ends_with("no configured subnet or ip-range contain the IP address 10.2.0.9"), "{err}");
    drop(nets);
    let nets = Networks::open(dir.path()).expect("reopen");
    nets.connect("c", join("x3", "x3", &[]), &live).expect("x3");
    let ips: Vec<String> =
        ["x1", "x3"].iter().map(|c| nets.endpoints_of(c)["c"].ip_address.clone().expect("ip")).collect();
    assert_eq!(ips, ["10.1.0.2", "10.1.0.3"]);
    assert_eq!(nets.lookup("x3", "x1", &live), vec!["10.1.0.2".parse::<std::net::Ipv4Addr>().expect("ip")]);
}
