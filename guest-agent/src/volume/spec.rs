//! Docker's mount specifications, parsed and checked: a `Binds` entry
//! (`-v name:/p[:opts]`, `-v /host:/p[:opts]`, `-v /p`), a `Mounts` object
//! (`--mount type=volume|bind|tmpfs,…`) and an anonymous volume of
//! `Config.Volumes` or the image's `VOLUME`, each into one [`MountSpec`],
//! with moby's messages for what it refuses.
//!
//! Owns the syntax only: whether a volume exists, a bind's source is there
//! or a destination is taken twice is the engine's to judge. It must never
//! touch the filesystem.

use std::collections::HashMap;

use bollard_stubs::models::{Mount, MountTypeEnum};

use super::error::VolumeError;

/// Where a mount's content comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A volume; `name` None is a new anonymous one.
    Volume {
        name: Option<String>,
        driver: String,
        options: HashMap<String, String>,
        labels: HashMap<String, String>,
        /// Do not copy the image's content at the destination into an
        /// empty volume (`nocopy`, `volume-nocopy`).
        nocopy: bool,
    },
    /// A path of the engine's host; `-v` makes a missing one (Docker's
    /// legacy behaviour), `--mount` refuses it.
    Bind { path: String, propagation: String, create: bool },
    /// A fresh tmpfs with these mount options (`size=`, `mode=`).
    Tmpfs { options: Vec<String> },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountSpec {
    pub destination: String,
    pub source: Source,
    pub readonly: bool,
    /// Docker's `Mode` of the mount point, as inspect shows it.
    pub mode: String,
}

fn invalid(s: String) -> VolumeError {
    VolumeError::InvalidSpec(s)
}

fn mount_config(typ: &str, what: &str) -> VolumeError {
    invalid(format!("invalid mount config for type \"{typ}\": {what}"))
}

/// An absolute destination without `..`, not `/` itself.
fn check_destination(typ: &str, dst: &str) -> Result<(), VolumeError> {
    if !dst.starts_with('/') {
        return Err(mount_config(typ, &format!("invalid mount path: '{dst}' mount path must be absolute")));
    }
    if dst.split('/').any(|c| c == "..") {
        return Err(mount_config(typ, &format!("invalid mount path: '{dst}' must not contain '..'")));
    }
    if dst.trim_end_matches('/').is_empty() {
        return Err(invalid("invalid specification: destination can't be '/'".into()));
    }
    Ok(())
}

const PROPAGATION: [&str; 6] = ["private", "rprivate", "shared", "rshared", "slave", "rslave"];

/// An anonymous volume at `destination` (`-v /p`, `Config.Volumes`, the
/// image's `VOLUME`).
pub fn anonymous(destination: &str) -> Result<MountSpec, VolumeError> {
    check_destination("volume", destination)?;
    Ok(MountSpec {
        destination: destination.to_string(),
        source: Source::Volume {
            name: None,
            driver: String::new(),
            options: HashMap::new(),
            labels: HashMap::new(),
            nocopy: false,
        },
        readonly: false,
        mode: String::new(),
    })
}

/// One `Binds` entry: `src:dst[:mode]`, `dst` alone an anonymous volume.
pub fn parse_bind(spec: &str) -> Result<MountSpec, VolumeError> {
    let bad = || invalid(format!("invalid volume specification: '{spec}'"));
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [d] => return anonymous(d).map_err(|e| invalid(format!("invalid volume specification: '{spec}': {e}"))),
        [s, d] => (*s, *d, ""),
        [s, d, m] => (*s, *d, *m),
        _ => return Err(bad()),
    };
    if src.is_empty() || dst.is_empty() {
        return Err(bad());
    }
    let is_bind = src.starts_with('/');
    let typ = if is_bind { "bind" } else { "volume" };
    check_destination(typ, dst).map_err(|e| invalid(format!("invalid volume specification: '{spec}': {e}")))?;
    let (mut readonly, mut nocopy, mut propagation) = (false, false, String::new());
    let mut rw_given = 0;
    for m in mode.split(',').filter(|m| !m.is_empty()) {
        match m {
            "ro" => (readonly, rw_given) = (true, rw_given + 1),
            "rw" => rw_given += 1,
            "z" | "Z" | "consistent" | "cached" | "delegated" => {}
            "nocopy" if !is_bind => nocopy = true,
            p if is_bind && PROPAGATION.contains(&p) && propagation.is_empty() => propagation = p.to_string(),
            _ => return Err(invalid(format!("invalid mode: {mode}"))),
        }
    }
    if rw_given > 1 {
        return Err(invalid(format!("invalid mode: {mode}")));
    }
    let source = if is_bind {
        let propagation = if propagation.is_empty() { "rprivate".to_string() } else { propagation };
        Source::Bind { path: src.to_string(), propagation, create: true }
    } else {
        super::name::validate(src)?;
        Source::Volume {
            name: Some(src.to_string()),
            driver: String::new(),
            options: HashMap::new(),
            labels: HashMap::new(),
            nocopy,
        }
    };
    let mode = if !is_bind && mode.is_empty() { "z".to_string() } else { mode.to_string() };
    Ok(MountSpec { destination: dst.to_string(), source, readonly, mode })
}

/// One `Mounts` object, checked as moby's `validateMountConfig`.
pub fn parse_mount(m: &Mount) -> Result<MountSpec, VolumeError> {
    let typ = m.typ.map(|t| t.to_string()).unwrap_or_default();
    let err = |what: &str| mount_config(&typ, what);
    let target = m.target.clone().unwrap_or_default();
    if target.is_empty() {
        return Err(err("field Target must not be empty"));
    }
    check_destination(&typ, &target)?;
    let source = m.source.clone().unwrap_or_default();
    let readonly = m.read_only == Some(true);
    let not_with = |present: bool, field: &str| {
        if present { Err(err(&format!("field {field} must not be specified"))) } else { Ok(()) }
    };
    let (source, mode) = match m.typ {
        Some(MountTypeEnum::BIND) => {
            not_with(m.volume_options.is_some(), "VolumeOptions")?;
            not_with(m.tmpfs_options.is_some(), "TmpfsOptions")?;
            if source.is_empty() {
                return Err(err("field Source must not be empty"));
            }
            if !source.starts_with('/') {
                return Err(err(&format!("invalid mount path: '{source}' mount path must be absolute")));
            }
            let b = m.bind_options.clone().unwrap_or_default();
            let propagation = b.propagation.map(|p| p.to_string()).filter(|p| !p.is_empty());
            let create = b.create_mountpoint == Some(true);
            (Source::Bind { path: source, propagation: propagation.unwrap_or_else(|| "rprivate".into()), create }, "")
        }
        Some(MountTypeEnum::VOLUME) => {
            not_with(m.bind_options.is_some(), "BindOptions")?;
            not_with(m.tmpfs_options.is_some(), "TmpfsOptions")?;
            let v = m.volume_options.clone().unwrap_or_default();
            if v.subpath.as_deref().is_some_and(|s| !s.is_empty()) {
                return Err(err("volume subpaths are not supported by this engine"));
            }
            let name = (!source.is_empty()).then_some(source);
            if let Some(n) = &name {
                super::name::validate(n)?;
            }
            let driver = v.driver_config.clone().unwrap_or_default();
            let s = Source::Volume {
                name,
                driver: driver.name.unwrap_or_default(),
                options: driver.options.unwrap_or_default(),
                labels: v.labels.unwrap_or_default(),
                nocopy: v.no_copy == Some(true),
            };
            (s, "z")
        }
        Some(MountTypeEnum::TMPFS) => {
            not_with(!source.is_empty(), "Source")?;
            not_with(m.bind_options.is_some(), "BindOptions")?;
            not_with(m.volume_options.is_some(), "VolumeOptions")?;
            let mut options = Vec::new();
            if let Some(t) = &m.tmpfs_options {
                match t.size_bytes {
                    Some(s) if s < 0 => return Err(err("invalid tmpfs size")),
                    Some(s) if s > 0 => options.push(format!("size={s}")),
                    _ => {}
                }
                if let Some(mode) = t.mode {
                    options.push(format!("mode={mode:o}"));
                }
            }
            (Source::Tmpfs { options }, "")
        }
        _ => return Err(err("mount type unknown")),
    };
    Ok(MountSpec { destination: target, source, readonly, mode: mode.to_string() })
}

#[cfg(test)]
mod tests {
    use bollard_stubs::models::{
        MountBindOptions, MountBindOptionsPropagationEnum, MountTmpfsOptions, MountVolumeOptions,
    };

    use super::*;

    fn volume_name(s: &MountSpec) -> Option<&str> {
        match &s.source {
            Source::Volume { name, .. } => name.as_deref(),
            _ => None,
        }
    }

    #[test]
    fn binds_entries() {
        let s = parse_bind("data:/d").unwrap();
        assert_eq!((volume_name(&s), s.readonly, s.mode.as_str()), (Some("data"), false, "z"));
        let s = parse_bind("data:/d:ro,nocopy").unwrap();
        assert!(s.readonly);
        assert!(matches!(s.source, Source::Volume { nocopy: true, .. }));
        let s = parse_bind("/h:/c:ro,z").unwrap();
        assert_eq!(s.mode, "ro,z");
        assert_eq!(s.source, Source::Bind { path: "/h".into(), propagation: "rprivate".into(), create: true });
        let s = parse_bind("/h:/c:rshared").unwrap();
        assert!(matches!(s.source, Source::Bind { ref propagation, .. } if propagation == "rshared"));
        let s = parse_bind("/anon").unwrap();
        assert_eq!((volume_name(&s), s.mode.as_str()), (None, ""));
        let e = parse_bind("a/b:/c").unwrap_err();
        assert!(e.to_string().starts_with("create a/b: \"a/b\" includes invalid characters"), "{e}");
        assert!(matches!(parse_bind("..:/c"), Err(VolumeError::InvalidName(_))));
        assert_eq!(parse_bind("/h:/c:bogus").unwrap_err().to_string(), "invalid mode: bogus");
        assert_eq!(parse_bind("/h:/c:ro,rw").unwrap_err().to_string(), "invalid mode: ro,rw");
        assert!(parse_bind("/h:rel").unwrap_err().to_string().contains("mount path must be absolute"));
        assert!(parse_bind("/h:/c/../x").is_err());
        assert!(parse_bind("/h:/").is_err());
        assert_eq!(parse_bind("a:b:c:d").unwrap_err().to_string(), "invalid volume specification: 'a:b:c:d'");
    }

    fn mount(typ: MountTypeEnum, source: &str, target: &str) -> Mount {
        Mount {
            typ: Some(typ),
            source: (!source.is_empty()).then(|| source.to_string()),
            target: (!target.is_empty()).then(|| target.to_string()),
            ..Default::default()
        }
    }

    #[test]
    fn mount_objects() {
        let mut m = mount(MountTypeEnum::VOLUME, "data", "/d");
        m.volume_options = Some(MountVolumeOptions {
            no_copy: Some(true),
            driver_config: Some(bollard_stubs::models::MountVolumeOptionsDriverConfig {
                name: None,
                options: Some(HashMap::from([("type".into(), "tmpfs".into())])),
            }),
            ..Default::default()
        });
        m.read_only = Some(true);
        let s = parse_mount(&m).unwrap();
        assert!(s.readonly);
        assert!(matches!(&s.source, Source::Volume { nocopy: true, options, .. } if options["type"] == "tmpfs"));
        let mut b = mount(MountTypeEnum::BIND, "/h", "/c");
        b.bind_options =
            Some(MountBindOptions { propagation: Some(MountBindOptionsPropagationEnum::RSLAVE), ..Default::default() });
        let s = parse_mount(&b).unwrap();
        assert!(matches!(&s.source, Source::Bind { propagation, create: false, .. } if propagation == "rslave"));
        let mut t = mount(MountTypeEnum::TMPFS, "", "/t");
        t.tmpfs_options =
            Some(MountTmpfsOptions { size_bytes: Some(1 << 20), mode: Some(0o1770), ..Default::default() });
        assert_eq!(
            parse_mount(&t).unwrap().source,
            Source::Tmpfs { options: vec!["size=1048576".into(), "mode=1770".into()] }
        );
        let e = parse_mount(&mount(MountTypeEnum::VOLUME, "data", "")).unwrap_err();
        assert_eq!(e.to_string(), "invalid mount config for type \"volume\": field Target must not be empty");
        let e = parse_mount(&mount(MountTypeEnum::BIND, "", "/c")).unwrap_err();
        assert_eq!(e.to_string(), "invalid mount config for type \"bind\": field Source must not be empty");
        let e = parse_mount(&mount(MountTypeEnum::TMPFS, "/x", "/t")).unwrap_err();
        assert_eq!(e.to_string(), "invalid mount config for type \"tmpfs\": field Source must not be specified");
        let mut vb = mount(MountTypeEnum::VOLUME, "", "/d");
        vb.bind_options = Some(Default::default());
        assert!(parse_mount(&vb).unwrap_err().to_string().contains("BindOptions must not be specified"));
        assert!(parse_mount(&mount(MountTypeEnum::VOLUME, "a/b", "/d")).is_err());
        assert_eq!(volume_name(&parse_mount(&mount(MountTypeEnum::VOLUME, "", "/d")).unwrap()), None);
    }
}
