//! The real docker CLI (28.x) against `berth-agent` in process mode:
//! volumes (`docker volume create|ls|inspect|rm|prune` with filters, the
//! local driver's options, `/system/df`) and container mounts (`-v` named,
//! anonymous and bind, every `--mount` form, `--tmpfs`, `--volumes-from`,
//! `rm -v`, `--rm`), data kept across containers and an engine restart,
//! the image's `VOLUME` copied up (never following its symlinks out),
//! `docker cp` through a volume, and bad input refused with Docker's words
//! and nothing created.
//!
//! Needs root (namespaces, mounts), `/bin/busybox` (busybox-static),
//! `skopeo`, `docker-registry` and the docker CLI.

mod containers_fixture;
mod engine_fixture;

use std::path::{Path, PathBuf};

use containers_fixture::Daemon;

fn lines(s: &str) -> Vec<&str> {
    let mut v: Vec<&str> = s.lines().filter(|l| !l.is_empty()).collect();
    v.sort();
    v
}

/// The host directory of a volume (`Mountpoint`).
fn mountpoint(d: &Daemon, name: &str) -> PathBuf {
    PathBuf::from(d.ok(&["volume", "inspect", "--format", "{{.Mountpoint}}", name]).trim())
}

/// inspect's `Mounts` of a container, by destination.
fn mounts(d: &Daemon, c: &str) -> serde_json::Map<String, serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(&d.inspect(c, "{{json .Mounts}}")).unwrap();
    v.as_array().unwrap().iter().map(|m| (m["Destination"].as_str().unwrap().to_string(), m.clone())).collect()
}

#[test]
fn volume_api_with_filters_prune_df_and_bad_input() {
    let d = Daemon::start();
    d.ok(&["volume", "create", "--label", "env=prod", "--label", "team=a", "v1"]);
    d.ok(&["volume", "create", "--label", "env=dev", "v2"]);
    let tmpfs = ["volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m", "vt"];
    d.ok(&tmpfs);
    // Creating an existing volume is that volume (Docker's create is idempotent).
    assert_eq!(d.ok(&["volume", "create", "v1"]).trim(), "v1");
    let fmt = "{{.Driver}} {{.Scope}} {{.Labels}} {{.Options}}";
    assert_eq!(d.ok(&["volume", "inspect", "--format", fmt, "v1"]).trim(), "local local map[env:prod team:a] map[]");
    let opts = d.ok(&["volume", "inspect", "--format", "{{json .Options}}", "vt"]);
    assert_eq!(opts.trim(), r#"{"device":"tmpfs","o":"size=1m","type":"tmpfs"}"#);
    assert!(mountpoint(&d, "v1").ends_with("volumes/v1/_data"), "{}", mountpoint(&d, "v1").display());
    assert!(mountpoint(&d, "v1").is_dir());
    assert!(!d.ok(&["volume", "inspect", "--format", "{{.CreatedAt}}", "v1"]).trim().is_empty());
    let ls = |filters: &[&str]| {
        let mut args = vec!["volume", "ls", "-q"];
        for f in filters {
            args.extend(["--filter", f]);
        }
        lines(&d.ok(&args)).join(" ")
    };
    assert_eq!(ls(&[]), "v1 v2 vt");
    assert_eq!(ls(&["name=v"]), "v1 v2 vt");
    assert_eq!(ls(&["name=2"]), "v2");
    assert_eq!(ls(&["label=env"]), "v1 v2");
    assert_eq!(ls(&["label=env=prod", "label=team=a"]), "v1", "labels AND");
    assert_eq!(ls(&["label=env=prod", "label=env=dev"]), "", "every label must hold");
    assert_eq!(ls(&["driver=local", "name=t"]), "vt");
    // In use by a container (created, never started): not dangling, and 409.
    d.ok(&["create", "--name", "user", "-v", "v1:/d", "busybox", "true"]);
    assert_eq!(ls(&["dangling=true"]), "v2 vt");
    assert_eq!(ls(&["dangling=false"]), "v1");
    let (ok, _, err) = d.docker(&["volume", "rm", "v1"]);
    assert!(!ok && err.contains("remove v1: volume is in use - ["), "{err}");
    let (ok, _, err) = d.docker(&["volume", "rm", "-f", "v1"]);
    assert!(!ok && err.contains("volume is in use"), "force does not remove a volume in use: {err}");
    let (ok, _, err) = d.docker(&["volume", "inspect", "nope"]);
    assert!(!ok && err.contains("no such volume"), "{err}");
    d.ok(&["volume", "rm", "-f", "nope"]);
    // Bad input: Docker's words, nothing created.
    let (ok, _, err) = d.docker(&["volume", "create", "a/b"]);
    assert!(
        !ok && err.contains(
            r#"create a/b: "a/b" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed"#
        ),
        "{err}"
    );
    let (ok, _, err) = d.docker(&["volume", "create", ".."]);
    assert!(!ok && err.contains("includes invalid characters"), "{err}");
    let (ok, _, err) = d.docker(&["volume", "create", "--driver", "nfs", "vn"]);
    assert!(!ok && err.contains(r#"create vn: error looking up volume plugin nfs: plugin "nfs" not found"#), "{err}");
    let (ok, _, err) = d.docker(&["volume", "create", "-o", "colour=red", "vo"]);
    assert!(!ok && err.contains(r#"create vo: invalid option: "colour""#), "{err}");
    let (ok, _, err) = d.docker(&["volume", "create", "-o", "type=tmpfs", "vo"]);
    assert!(!ok && err.contains(r#"missing required option: "device""#), "{err}");
    assert_eq!(ls(&[]), "v1 v2 vt", "nothing created by bad input");
    // Prune: only anonymous volumes unless --all; labels select.
    d.ok(&["create", "--name", "anon", "-v", "/scratch", "busybox", "true"]);
    let anon = mounts(&d, "anon")["/scratch"]["Name"].as_str().unwrap().to_string();
    assert_eq!(
        d.ok(&["volume", "inspect", "--format", "{{json .Labels}}", &anon]).trim(),
        r#"{"com.docker.volume.anonymous":""}"#
    );
    d.ok(&["rm", "anon"]);
    assert!(ls(&[]).contains(&anon), "rm without -v keeps the anonymous volume");
    let out = d.ok(&["volume", "prune", "-f"]);
    assert!(out.contains(&anon), "{out}");
    assert_eq!(ls(&[]), "v1 v2 vt", "named volumes survive a plain prune");
    std::fs::write(mountpoint(&d, "v2").join("f"), vec![0u8; 4096]).unwrap();
    let df = d.ok(&["system", "df", "-v"]);
    assert!(df.contains("v2") && df.contains("4.096kB"), "{df}");
    let out = d.ok(&["volume", "prune", "-af", "--filter", "label=env=dev"]);
    assert!(out.contains("v2") && out.contains("4.096kB"), "{out}");
    assert_eq!(ls(&[]), "v1 vt");
    d.ok(&["volume", "prune", "-af"]);
    assert_eq!(ls(&[]), "v1", "the volume in use stays");
    d.ok(&["rm", "user"]);
    d.ok(&["volume", "rm", "v1"]);
    assert_eq!(ls(&[]), "");
}

#[test]
fn mounts_of_every_form_and_data_across_containers_and_restarts() {
    let mut d = Daemon::start();
    // Named volume: made on first use, data kept across containers.
    d.ok(&["run", "--rm", "-v", "data:/d", "busybox", "sh", "-c", "echo kept > /d/f"]);
    assert_eq!(d.ok(&["run", "--rm", "-v", "data:/d:ro", "busybox", "cat", "/d/f"]), "kept\n");
    let (ok, _, _) = d.docker(&["run", "--rm", "-v", "data:/d:ro", "busybox", "sh", "-c", "echo x > /d/g"]);
    assert!(!ok, ":ro refuses writes");
    // Binds: the host's directory, :ro and :z.
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("in"), "from host").unwrap();
    let h = host.path().display().to_string();
    let out = d.ok(&["run", "--rm", "-v", &format!("{h}:/h:z"), "busybox", "sh", "-c", "cat /h/in; echo out > /h/out"]);
    assert_eq!(out, "from host");
    assert_eq!(std::fs::read_to_string(host.path().join("out")).unwrap(), "out\n");
    let (ok, _, _) = d.docker(&["run", "--rm", "-v", &format!("{h}:/h:ro"), "busybox", "touch", "/h/x"]);
    assert!(!ok && !host.path().join("x").exists(), ":ro bind refuses writes");
    // Every --mount form, --tmpfs and -v forms in one container.
    let sub = host.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let args = [
        "create",
        "--name",
        "all",
        "-v",
        "data:/named",
        "-v",
        "/anon",
        "-v",
        &format!("{h}:/bind:ro"),
        "--mount",
        "type=volume,src=mv,dst=/mv,readonly",
        "--mount",
        "type=volume,dst=/mvanon,volume-nocopy",
        "--mount",
        "type=volume,src=mt,dst=/mt,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-opt=o=size=2m",
        "--mount",
        &format!("type=bind,src={},dst=/mb,bind-propagation=rslave", sub.display()),
        "--mount",
        "type=tmpfs,dst=/mtmp,tmpfs-size=1m,tmpfs-mode=1770",
        "--tmpfs",
        "/tt:size=512k",
        "busybox",
        "sh",
        "-c",
        "grep -E ' /(mt|mtmp|tt) ' /proc/mounts | cut -d' ' -f2,3,4 | sort; stat -c %a /mtmp; cat /named/f; touch /mv/x 2>/dev/null || echo ro",
    ];
    d.ok(&args);
    let m = mounts(&d, "all");
    let keys: Vec<&str> = m.keys().map(String::as_str).collect();
    assert_eq!(keys, ["/anon", "/bind", "/mb", "/mt", "/mtmp", "/mv", "/mvanon", "/named"], "no --tmpfs in Mounts");
    let named = &m["/named"];
    assert_eq!(
        (named["Type"].as_str(), named["Name"].as_str(), named["Driver"].as_str(), named["Mode"].as_str()),
        (Some("volume"), Some("data"), Some("local"), Some("z"))
    );
    assert_eq!((named["RW"].as_bool(), named["Propagation"].as_str()), (Some(true), Some("")));
    assert_eq!(named["Source"].as_str().map(PathBuf::from), Some(mountpoint(&d, "data")));
    let bind = &m["/bind"];
    assert_eq!(
        (bind["Type"].as_str(), bind["Source"].as_str(), bind["Mode"].as_str(), bind["RW"].as_bool()),
        (Some("bind"), Some(h.as_str()), Some("ro"), Some(false))
    );
    assert_eq!(bind["Propagation"], "rprivate");
    assert_eq!(m["/mb"]["Propagation"], "rslave");
    assert_eq!((m["/mv"]["Name"].as_str(), m["/mv"]["RW"].as_bool()), (Some("mv"), Some(false)));
    assert_eq!(m["/anon"]["Name"].as_str().map(str::len), Some(64));
    assert_eq!(m["/mtmp"]["Type"], "tmpfs");
    d.ok(&["start", "-a", "all"]);
    let out = d.ok(&["logs", "all"]);
    assert_eq!(
        out,
        "/mt tmpfs rw,relatime,size=2048k\n/mtmp tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k,mode=1770\n/tt tmpfs rw,nosuid,nodev,noexec,relatime,size=512k\n1770\nkept\nro\n"
    );
    assert_eq!(lines(&d.ok(&["ps", "-a", "--filter", "volume=data", "--format", "{{.Names}}"])), ["all"]);
    // rm -v: the anonymous volumes go, named ones stay.
    let anon = [m["/anon"]["Name"].as_str().unwrap().to_string(), m["/mvanon"]["Name"].as_str().unwrap().to_string()];
    d.ok(&["rm", "-v", "all"]);
    let vols = d.ok(&["volume", "ls", "-q"]);
    assert_eq!(lines(&vols), ["data", "mt", "mv"]);
    assert!(anon.iter().all(|a| !vols.contains(a.as_str())));
    // --rm takes its anonymous volumes too.
    d.ok(&["run", "--rm", "-v", "/gone", "busybox", "true"]);
    assert_eq!(lines(&d.ok(&["volume", "ls", "-q"])), ["data", "mt", "mv"]);
    // The engine killed and started again: the volumes and their data.
    d.kill9();
    d.restart_engine();
    assert_eq!(lines(&d.ok(&["volume", "ls", "-q"])), ["data", "mt", "mv"]);
    assert_eq!(d.ok(&["run", "--rm", "-v", "data:/d", "busybox", "cat", "/d/f"]), "kept\n");
    let out =
        d.ok(&["run", "--rm", "-v", "mt:/mt", "busybox", "sh", "-c", "grep ' /mt ' /proc/mounts | cut -d' ' -f3"]);
    assert_eq!(out, "tmpfs\n", "the tmpfs volume is mounted again");
    // Bad input: Docker's words, nothing created.
    let before = d.ok(&["ps", "-aq"]);
    for (args, want) in [
        (vec!["-v", "a/b:/c"], r#"create a/b: "a/b" includes invalid characters for a local volume name"#),
        (vec!["-v", "/h:/c:bogus"], "invalid mode: bogus"),
        (vec!["-v", "data:/c", "-v", "mv:/c"], "Duplicate mount point: /c"),
        (vec!["--mount", "type=bind,dst=/c"], "field Source must not be empty"),
        (
            vec!["--mount", "type=bind,src=/nonexistent/berth,dst=/c"],
            "bind source path does not exist: /nonexistent/berth",
        ),
        (vec!["--mount", "type=volume,src=vx,dst=/c,volume-driver=nfs"], r#"plugin "nfs" not found"#),
        (vec!["--mount", "type=volume,src=vx,dst=/c,volume-opt=colour=red"], r#"invalid option: "colour""#),
        (vec!["--volumes-from", "nosuch"], "No such container: nosuch"),
    ] {
        // Never pulling: some of these are Docker's 404s, on which the CLI
        // would otherwise pull busybox from its default registry.
        let mut a = vec!["create", "--pull", "never"];
        a.extend(args.iter().copied());
        a.extend(["busybox", "true"]);
        let (ok, _, err) = d.docker(&a);
        assert!(!ok && err.contains(want), "{args:?}: {err}");
    }
    // A --mount missing its target is refused by the CLI or the engine alike.
    let (ok, _, err) = d.docker(&["create", "--pull", "never", "--mount", "type=volume,src=vx", "busybox", "true"]);
    assert!(!ok && err.to_lowercase().contains("target"), "{err}");
    assert_eq!(d.ok(&["ps", "-aq"]), before, "no container created");
    assert_eq!(lines(&d.ok(&["volume", "ls", "-q"])), ["data", "mt", "mv"], "no volume created");
}

#[test]
fn image_volume_copy_up_volumes_from_and_cp() {
    let d = Daemon::start();
    // An image with a VOLUME and content there, symlinks pointing out.
    let setup = "mkdir -p /data/sub && echo seed > /data/seed && echo deep > /data/sub/f && chown 1234:5678 /data/sub/f \
                 && ln -s /etc /data/etc-link && ln -s ../../../../../etc/passwd /data/up";
    d.ok(&["run", "--name", "src", "busybox", "sh", "-c", setup]);
    d.ok(&["commit", "--change", "VOLUME /data", "src", "withvol"]);
    d.ok(&["rm", "src"]);
    assert_eq!(
        d.ok(&["image", "inspect", "--format", "{{json .Config.Volumes}}", "withvol"]).trim(),
        r#"{"/data":{}}"#
    );
    d.ok(&["run", "--name", "c1", "withvol", "cat", "/data/seed", "/data/sub/f"]);
    assert_eq!(d.ok(&["logs", "c1"]), "seed\ndeep\n");
    let m = mounts(&d, "c1");
    let vol = m["/data"]["Name"].as_str().unwrap().to_string();
    assert_eq!((m["/data"]["Type"].as_str(), m["/data"]["Mode"].as_str()), (Some("volume"), Some("")));
    let host = mountpoint(&d, &vol);
    assert_eq!(std::fs::read_to_string(host.join("seed")).unwrap(), "seed\n");
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(host.join("sub/f")).unwrap();
    assert_eq!((md.uid(), md.gid()), (1234, 5678), "owners kept");
    assert_eq!(std::fs::read_link(host.join("etc-link")).unwrap(), Path::new("/etc"), "a link, not the host's /etc");
    assert!(std::fs::symlink_metadata(host.join("up")).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read_dir(&host).unwrap().count(), 4, "nothing but the image's four entries");
    // An empty named volume takes the image's content; nocopy does not.
    assert_eq!(
        lines(&d.ok(&["run", "--rm", "-v", "named:/data", "withvol", "ls", "/data"])),
        ["etc-link", "seed", "sub", "up"]
    );
    assert_eq!(d.ok(&["run", "--rm", "-v", "nc:/data:nocopy", "withvol", "ls", "/data"]), "");
    // Not empty any more: a second container does not copy over it.
    d.ok(&["run", "--rm", "-v", "named:/data", "withvol", "sh", "-c", "rm /data/seed"]);
    assert_eq!(d.ok(&["run", "--rm", "-v", "named:/data", "withvol", "ls", "/data"]), "etc-link\nsub\nup\n");
    // --volumes-from: the same volume, read-only with :ro.
    assert_eq!(d.ok(&["run", "--rm", "--volumes-from", "c1", "busybox", "cat", "/data/seed"]), "seed\n");
    let (ok, _, _) = d.docker(&["run", "--rm", "--volumes-from", "c1:ro", "busybox", "touch", "/data/x"]);
    assert!(!ok, "volumes-from :ro refuses writes");
    d.ok(&["run", "--name", "c2", "--volumes-from", "c1", "busybox", "true"]);
    assert_eq!(mounts(&d, "c2")["/data"]["Name"].as_str(), Some(vol.as_str()));
    // docker cp in and out of a path inside the volume.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("new"), "copied in").unwrap();
    d.ok(&["cp", &tmp.path().join("new").display().to_string(), "c1:/data/new"]);
    assert_eq!(std::fs::read_to_string(host.join("new")).unwrap(), "copied in");
    d.ok(&["cp", "c1:/data/sub/f", &tmp.path().join("out").display().to_string()]);
    assert_eq!(std::fs::read_to_string(tmp.path().join("out")).unwrap(), "deep\n");
    d.ok(&["cp", "c1:/data/sub", &tmp.path().join("all").display().to_string()]);
    assert_eq!(std::fs::read_to_string(tmp.path().join("all/f")).unwrap(), "deep\n");
    d.ok(&["cp", "c1:/data/etc-link", &tmp.path().join("link").display().to_string()]);
    assert_eq!(std::fs::read_link(tmp.path().join("link")).unwrap(), Path::new("/etc"), "the link itself");
    // The volume is in use by c1 and c2 until both go; rm -v of the last
    // one takes the anonymous volume.
    d.ok(&["rm", "-v", "c1"]);
    assert!(d.ok(&["volume", "ls", "-q"]).contains(&vol), "c2 still uses it");
    d.ok(&["rm", "-v", "c2"]);
    assert!(!d.ok(&["volume", "ls", "-q"]).contains(&vol));
}
