//! The process's rlimits: Docker's open-files limit, then `--ulimit`s
//! (which replace a default of the same type). Must never raise a limit
//! above what this process may grant without being asked to.

use std::str::FromStr;

use bollard_stubs::models::HostConfig;
use oci_spec::runtime::{PosixRlimit, PosixRlimitBuilder, PosixRlimitType, Spec};

use super::base;
use crate::runtime::RuntimeError;

/// The names `--ulimit` accepts (Docker's list).
const KNOWN: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
    "as",
];

/// The host's hard limit on open files: Docker's containers get 1048576,
/// which this process may not be able to grant.
fn nofile_limit() -> u64 {
    let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we own; no other effect.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) };
    if rc != 0 { 1024 } else { rl.rlim_max.min(1_048_576) }
}

fn rlimit(typ: PosixRlimitType, soft: u64, hard: u64) -> Result<PosixRlimit, RuntimeError> {
    PosixRlimitBuilder::default().typ(typ).soft(soft).hard(hard).build().map_err(RuntimeError::spec("process.rlimits"))
}

/// The rlimits of a container created with `hc`, checked as Docker does.
pub fn rlimits(hc: &HostConfig) -> Result<Vec<PosixRlimit>, RuntimeError> {
    let nofile = nofile_limit();
    let mut out = vec![rlimit(PosixRlimitType::RlimitNofile, nofile, nofile)?];
    for u in hc.ulimits.as_deref().unwrap_or_default() {
        let name = u.name.as_deref().unwrap_or_default();
        let typ = KNOWN
            .contains(&name)
            .then(|| PosixRlimitType::from_str(&format!("RLIMIT_{}", name.to_ascii_uppercase())).ok())
            .flatten()
            .ok_or_else(|| RuntimeError::InvalidRequest(format!("invalid ulimit type: {name}")))?;
        let (soft, hard) = (u.soft.unwrap_or(0), u.hard.unwrap_or(0));
        if soft > hard {
            return Err(RuntimeError::InvalidRequest(format!(
                "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
            )));
        }
        out.retain(|r| r.typ() != typ);
        // Negative values (unlimited in Docker's CLI) wrap to RLIM_INFINITY.
        out.push(rlimit(typ, soft as u64, hard as u64)?);
    }
    Ok(out)
}

/// `--ulimit`s and the open-files default in `process.rlimits`.
pub fn with_rlimits(spec: &mut Spec, hc: &HostConfig) -> Result<(), RuntimeError> {
    let limits = rlimits(hc)?;
    base::process_mut(spec)?.set_rlimits(Some(limits));
    Ok(())
}

#[cfg(test)]
mod tests {
    use bollard_stubs::models::ResourcesUlimits;

    use super::*;

    fn ulimit(name: &str, soft: i64, hard: i64) -> ResourcesUlimits {
        ResourcesUlimits { name: Some(name.into()), soft: Some(soft), hard: Some(hard) }
    }

    #[test]
    fn ulimits_replace_the_default_of_their_type() {
        let hc =
            HostConfig { ulimits: Some(vec![ulimit("nofile", 100, 200), ulimit("nproc", 5, 5)]), ..Default::default() };
        let mut spec = base::base("c", std::path::Path::new("/r")).expect("base");
        with_rlimits(&mut spec, &hc).expect("rlimits");
        let got = spec.process().as_ref().and_then(|p| p.rlimits().clone()).expect("rlimits");
        let got: Vec<_> = got.iter().map(|r| (r.typ(), r.soft(), r.hard())).collect();
        assert_eq!(got, vec![(PosixRlimitType::RlimitNofile, 100, 200), (PosixRlimitType::RlimitNproc, 5, 5)]);
    }

    #[test]
    fn the_default_is_nofile_only() {
        let got = rlimits(&HostConfig::default()).expect("rlimits");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].typ(), PosixRlimitType::RlimitNofile);
        assert!(got[0].soft() == got[0].hard() && got[0].hard() <= 1_048_576);
    }

    #[test]
    fn every_known_name_has_a_type_and_bad_ones_fail() {
        for name in KNOWN {
            let hc = HostConfig { ulimits: Some(vec![ulimit(name, 1, 2)]), ..Default::default() };
            assert!(rlimits(&hc).is_ok(), "{name}");
        }
        let bad = HostConfig { ulimits: Some(vec![ulimit("bogus", 1, 2)]), ..Default::default() };
        assert_eq!(rlimits(&bad).expect_err("bogus").to_string(), "invalid ulimit type: bogus");
        // -1 is unlimited, as Docker's uint64 conversion makes it.
        let unlimited = HostConfig { ulimits: Some(vec![ulimit("core", -1, -1)]), ..Default::default() };
        let got = rlimits(&unlimited).expect("unlimited");
        assert_eq!((got[1].soft(), got[1].hard()), (libc::RLIM_INFINITY, libc::RLIM_INFINITY));
        let inverted = HostConfig { ulimits: Some(vec![ulimit("core", 3, 2)]), ..Default::default() };
        assert!(rlimits(&inverted).is_err());
    }
}
