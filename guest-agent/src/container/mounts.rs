//! A container's mounts as its record keeps them: Docker's `MountPoint`
//! (what inspect's `Mounts` shows and `--volumes-from` copies) and what the
//! runtime needs beyond it (copy-up, tmpfs options).
//!
//! Owns that record and its translation into the runtime's mounts. The
//! mounts are planned by the engine (which knows volumes); this file must
//! never look a volume up.

use bollard_stubs::models::{MountPoint, MountPointTypeEnum};

use crate::runtime::spec::UserMount;

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MountRecord {
    #[serde(flatten)]
    pub point: MountPoint,
    /// The volume takes the image's content at the destination when empty.
    #[serde(default)]
    pub copy_data: bool,
    /// A tmpfs mount's options (`size=`, `mode=`, `ro`).
    #[serde(default)]
    pub tmpfs_options: Vec<String>,
}

impl MountRecord {
    pub fn destination(&self) -> &str {
        self.point.destination.as_deref().unwrap_or_default()
    }

    /// The volume's name, for a volume mount.
    pub fn volume(&self) -> Option<&str> {
        match self.point.typ {
            Some(MountPointTypeEnum::VOLUME) => self.point.name.as_deref(),
            _ => None,
        }
    }

    /// What the runtime mounts for it.
    pub fn runtime_mount(&self) -> UserMount {
        let destination = self.destination().to_string();
        match self.point.typ {
            Some(MountPointTypeEnum::TMPFS) => {
                let mut options = self.tmpfs_options.clone();
                if self.point.rw == Some(false) && !options.iter().any(|o| o == "ro") {
                    options.push("ro".into());
                }
                UserMount::Tmpfs { destination, options }
            }
            _ => UserMount::Bind {
                source: self.point.source.clone().unwrap_or_default().into(),
                destination,
                readonly: self.point.rw == Some(false),
                propagation: self
                    .point
                    .propagation
                    .clone()
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| "rprivate".into()),
                copy_up: self.copy_data && self.volume().is_some(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_as_dockers_mount_points_and_become_runtime_mounts() {
        let m = MountRecord {
            point: MountPoint {
                typ: Some(MountPointTypeEnum::VOLUME),
                name: Some("data".into()),
                source: Some("/root/volumes/data/_data".into()),
                destination: Some("/d".into()),
                driver: Some("local".into()),
                mode: Some("z".into()),
                rw: Some(false),
                propagation: Some(String::new()),
            },
            copy_data: true,
            tmpfs_options: vec![],
        };
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["Type"], "volume");
        assert_eq!(json["Name"], "data");
        assert_eq!(json["RW"], false);
        let back: MountRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, m);
        assert_eq!(m.volume(), Some("data"));
        assert_eq!(
            m.runtime_mount(),
            UserMount::Bind {
                source: "/root/volumes/data/_data".into(),
                destination: "/d".into(),
                readonly: true,
                propagation: "rprivate".into(),
                copy_up: true,
            }
        );
        let t = MountRecord {
            point: MountPoint {
                typ: Some(MountPointTypeEnum::TMPFS),
                destination: Some("/t".into()),
                rw: Some(false),
                ..Default::default()
            },
            tmpfs_options: vec!["size=1024".into()],
            ..Default::default()
        };
        assert_eq!(
            t.runtime_mount(),
            UserMount::Tmpfs { destination: "/t".into(), options: vec!["size=1024".into(), "ro".into()] }
        );
        assert_eq!(t.volume(), None);
    }
}
