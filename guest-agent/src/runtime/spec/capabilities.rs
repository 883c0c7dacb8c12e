//! The capabilities a container's processes hold: Docker's default set,
//! changed by `--cap-add`/`--cap-drop` (names with or without `CAP_`, any
//! case, `ALL`), or every capability of this kernel for `--privileged`;
//! and their place in the spec (bounding, effective and permitted; never
//! inheritable or ambient, as Docker).

use std::str::FromStr;

use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilitiesBuilder, Spec};

use super::{base, defaults};
use crate::runtime::RuntimeError;
use bollard_stubs::models::HostConfig;

/// The capabilities of a container created with `hc`, in Docker's order
/// (defaults, then additions), without repeats.
pub fn capabilities(hc: &HostConfig) -> Result<Vec<Capability>, RuntimeError> {
    if hc.privileged == Some(true) {
        return Ok(defaults::all_caps());
    }
    let add = parse_list(hc.cap_add.as_deref().unwrap_or_default())?;
    let drop = parse_list(hc.cap_drop.as_deref().unwrap_or_default())?;
    let mut caps: Vec<Capability> = match &drop {
        Named::All => Vec::new(),
        Named::These(drop) => defaults::DEFAULT_CAPS.iter().copied().filter(|c| !drop.contains(c)).collect(),
    };
    match add {
        // ALL added: every capability of this kernel but the dropped ones
        // (unless ALL was dropped too, which the addition then overrides).
        Named::All => {
            caps = defaults::all_caps()
                .into_iter()
                .filter(|c| match &drop {
                    Named::All => true,
                    Named::These(drop) => !drop.contains(c),
                })
                .collect()
        }
        Named::These(add) => {
            for c in add {
                if !caps.contains(&c) {
                    caps.push(c);
                }
            }
        }
    }
    Ok(caps)
}

/// A `--cap-add` or `--cap-drop` list.
enum Named {
    All,
    These(Vec<Capability>),
}

fn parse_list(names: &[String]) -> Result<Named, RuntimeError> {
    let mut out = Vec::new();
    let mut all = false;
    for name in names {
        match parse(name)? {
            None => all = true,
            Some(c) => out.push(c),
        }
    }
    Ok(if all { Named::All } else { Named::These(out) })
}

/// One name: `None` for ALL. Docker's spelling (`NET_ADMIN`, `cap_net_admin`),
/// limited to the capabilities this runtime knows.
fn parse(name: &str) -> Result<Option<Capability>, RuntimeError> {
    let up = name.trim().to_ascii_uppercase();
    if up == "ALL" {
        return Ok(None);
    }
    let bare = up.strip_prefix("CAP_").unwrap_or(&up);
    Capability::from_str(bare)
        .ok()
        .filter(|c| defaults::ALL_CAPS.contains(c))
        .map(Some)
        .ok_or_else(|| RuntimeError::InvalidRequest(format!("unknown capability: {name:?}")))
}

/// `caps` as the process's bounding, effective and permitted sets.
pub fn with_capabilities(spec: &mut Spec, caps: &[Capability]) -> Result<(), RuntimeError> {
    let set: Capabilities = caps.iter().copied().collect();
    let mut sets = LinuxCapabilitiesBuilder::default()
        .bounding(set.clone())
        .effective(set.clone())
        .permitted(set)
        .build()
        .map_err(RuntimeError::spec("process.capabilities"))?;
    // The builder would fill these with youki's three defaults.
    sets.set_inheritable(None).set_ambient(None);
    base::process_mut(spec)?.set_capabilities(Some(sets));
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn hc(add: &[&str], drop: &[&str]) -> HostConfig {
        HostConfig {
            cap_add: Some(add.iter().map(|s| s.to_string()).collect()),
            cap_drop: Some(drop.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn add_and_drop_change_dockers_defaults() {
        let caps =
            capabilities(&hc(&["NET_ADMIN", "sys_ptrace", "CAP_KILL"], &["MKNOD", "cap_net_raw"])).expect("caps");
        assert_eq!(caps.len(), defaults::DEFAULT_CAPS.len() - 2 + 2, "{caps:?}");
        assert!(!caps.contains(&Capability::Mknod) && !caps.contains(&Capability::NetRaw));
        assert_eq!(&caps[caps.len() - 2..], &[Capability::NetAdmin, Capability::SysPtrace]);
        assert_eq!(capabilities(&HostConfig::default()).expect("defaults"), defaults::DEFAULT_CAPS);
    }

    #[test]
    fn all_in_either_list() {
        assert_eq!(capabilities(&hc(&["KILL"], &["ALL"])).expect("drop all"), vec![Capability::Kill]);
        let all_but_chown = capabilities(&hc(&["all"], &["CHOWN"])).expect("add all");
        assert!(!all_but_chown.contains(&Capability::Chown));
        assert_eq!(all_but_chown.len(), defaults::all_caps().len() - 1);
        let privileged =
            HostConfig { privileged: Some(true), cap_drop: Some(vec!["ALL".into()]), ..Default::default() };
        assert_eq!(capabilities(&privileged).expect("privileged"), defaults::all_caps());
    }

    #[test]
    fn unknown_names_are_refused() {
        for bad in ["NOPE", "CAP_CAP_CHOWN", ""] {
            let e = capabilities(&hc(&[bad], &[])).expect_err(bad);
            assert_eq!(e.to_string(), format!("unknown capability: {bad:?}"));
        }
    }

    #[test]
    fn three_sets_in_the_spec_and_no_more() {
        let mut spec = base::base("c", Path::new("/r")).expect("base");
        with_capabilities(&mut spec, &[Capability::Kill, Capability::Chown]).expect("caps");
        let sets = spec.process().as_ref().and_then(|p| p.capabilities().clone()).expect("capabilities");
        let want: Capabilities = [Capability::Kill, Capability::Chown].into();
        assert_eq!(
            (sets.bounding(), sets.effective(), sets.permitted()),
            (&Some(want.clone()), &Some(want.clone()), &Some(want))
        );
        assert_eq!((sets.inheritable(), sets.ambient()), (&None, &None));
    }
}
