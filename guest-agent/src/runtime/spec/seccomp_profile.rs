//! A seccomp profile in Docker's JSON format (`--security-opt
//! seccomp=FILE`: the docker CLI sends the file's content) and its
//! rendering into the OCI spec's `linux.seccomp` for one container, as
//! moby's setupSeccomp does: `architectures` verbatim or the `archMap`
//! entry of this machine (x86_64), and each syscall rule kept only when its
//! `includes`/`excludes` (arches, capabilities of the container's bounding
//! set, minimum kernel) say so.
//!
//! Owns that reading and nothing else: it must never pick the default
//! profile (`seccomp.rs` does) nor compile a filter (the shim does).
//! Masked comparisons are turned into the order libcontainer reads (see
//! `seccomp.rs`'s masked_eq): Docker's profile puts the mask in `value`.

use oci_spec::runtime::{
    Arch, Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder, LinuxSeccompBuilder,
    LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall, LinuxSyscallBuilder,
};
use serde::Deserialize;

use crate::runtime::RuntimeError;

/// This machine in a profile's terms: moby's native name for `includes`
/// and `excludes`, and the libseccomp architecture of `archMap`.
const NATIVE_ARCH: &str = "amd64";
const SECCOMP_ARCH: &str = "SCMP_ARCH_X86_64";

/// Docker's profile (moby `profiles/seccomp` Seccomp); unknown fields, like
/// a rule's `comment`, are ignored as Go's decoder ignores them.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DockerProfile {
    #[serde(default)]
    default_action: String,
    default_errno_ret: Option<u32>,
    #[serde(default)]
    architectures: Vec<String>,
    #[serde(default)]
    arch_map: Vec<ArchMap>,
    #[serde(default)]
    flags: Vec<LinuxSeccompFilterFlag>,
    #[serde(default)]
    listener_path: String,
    #[serde(default)]
    syscalls: Vec<Rule>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct ArchMap {
    architecture: String,
    #[serde(default)]
    sub_architectures: Vec<String>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Rule {
    #[serde(default)]
    name: String,
    #[serde(default)]
    names: Vec<String>,
    action: String,
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Vec<Arg>,
    #[serde(default)]
    includes: Filter,
    #[serde(default)]
    excludes: Filter,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    arches: Vec<String>,
    #[serde(default)]
    caps: Vec<String>,
    #[serde(default)]
    min_kernel: String,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Arg {
    index: usize,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: LinuxSeccompOperator,
}

fn invalid(message: impl Into<String>) -> RuntimeError {
    RuntimeError::InvalidRequest(message.into())
}

impl DockerProfile {
    /// The profile from its JSON text, with moby's message when it does not
    /// decode.
    pub fn parse(json: &str) -> Result<DockerProfile, RuntimeError> {
        serde_json::from_str(json).map_err(|e| invalid(format!("Decoding seccomp profile failed: {e}")))
    }

    /// `linux.seccomp` for a container whose bounding set is `caps`, on a
    /// kernel of version `kernel`; None when the profile filters nothing
    /// (no default action and no rules), as moby reads it.
    pub fn render(&self, caps: &[Capability], kernel: (u64, u64, u64)) -> Result<Option<LinuxSeccomp>, RuntimeError> {
        if self.default_action.is_empty() && self.syscalls.is_empty() {
            return Ok(None);
        }
        if !self.architectures.is_empty() && !self.arch_map.is_empty() {
            return Err(invalid(
                "'architectures' and 'archMap' were specified in the seccomp profile, use either 'architectures' or 'archMap'",
            ));
        }
        if !self.listener_path.is_empty() {
            return Err(invalid("seccomp profile: a listenerPath (SCMP_ACT_NOTIFY) is not supported by this runtime"));
        }
        let mut arches: Vec<&str> = self.architectures.iter().map(String::as_str).collect();
        if let Some(m) = self.arch_map.iter().find(|m| m.architecture == SECCOMP_ARCH) {
            arches.push(&m.architecture);
            arches.extend(m.sub_architectures.iter().map(String::as_str));
        }
        // The OCI names (`CAP_SYS_ADMIN`), as the profile writes them.
        let caps: Vec<String> = caps
            .iter()
            .filter_map(|c| serde_json::to_value(c).ok().and_then(|v| v.as_str().map(String::from)))
            .collect();
        let mut syscalls = Vec::new();
        for rule in &self.syscalls {
            if rule.applies(&caps, kernel)? {
                syscalls.push(rule.to_oci()?);
            }
        }
        let mut b = LinuxSeccompBuilder::default()
            .default_action(action(&self.default_action)?)
            .architectures(arches.into_iter().map(arch).collect::<Result<Vec<_>, _>>()?)
            .syscalls(syscalls);
        if let Some(errno) = self.default_errno_ret {
            b = b.default_errno_ret(errno);
        }
        if !self.flags.is_empty() {
            b = b.flags(self.flags.clone());
        }
        b.build().map(Some).map_err(|e| invalid(format!("seccomp profile: {e}")))
    }
}

impl Rule {
    /// moby's filtering: excluded by a matching arch, a held capability or
    /// a kernel at least as new; included only with every listed
    /// capability, a listed arch and a kernel new enough.
    fn applies(&self, caps: &[String], kernel: (u64, u64, u64)) -> Result<bool, RuntimeError> {
        let (ex, inc) = (&self.excludes, &self.includes);
        if ex.arches.iter().any(|a| a == NATIVE_ARCH) || ex.caps.iter().any(|c| caps.contains(c)) {
            return Ok(false);
        }
        if !ex.min_kernel.is_empty() && kernel >= kernel_version(&ex.min_kernel)? {
            return Ok(false);
        }
        if !inc.arches.is_empty() && !inc.arches.iter().any(|a| a == NATIVE_ARCH) {
            return Ok(false);
        }
        if !inc.caps.iter().all(|c| caps.contains(c)) {
            return Ok(false);
        }
        if !inc.min_kernel.is_empty() && kernel < kernel_version(&inc.min_kernel)? {
            return Ok(false);
        }
        Ok(true)
    }

    fn to_oci(&self) -> Result<LinuxSyscall, RuntimeError> {
        if !self.name.is_empty() && !self.names.is_empty() {
            return Err(invalid(
                "'name' and 'names' were specified in the seccomp profile, use either 'name' or 'names'",
            ));
        }
        let names = if self.name.is_empty() { self.names.clone() } else { vec![self.name.clone()] };
        let mut b = LinuxSyscallBuilder::default().names(names).action(action(&self.action)?);
        if let Some(errno) = self.errno_ret {
            b = b.errno_ret(errno);
        }
        if !self.args.is_empty() {
            b = b.args(self.args.iter().map(Arg::to_oci).collect::<Result<Vec<_>, _>>()?);
        }
        b.build().map_err(|e| invalid(format!("seccomp profile: {e}")))
    }
}

impl Arg {
    fn to_oci(&self) -> Result<LinuxSeccompArg, RuntimeError> {
        // Docker: (arg & value) == valueTwo; libcontainer reads the mask
        // from valueTwo and the datum from value.
        let (value, value_two) = match self.op {
            LinuxSeccompOperator::ScmpCmpMaskedEq => (self.value_two, self.value),
            _ => (self.value, self.value_two),
        };
        LinuxSeccompArgBuilder::default()
            .index(self.index)
            .value(value)
            .value_two(value_two)
            .op(self.op)
            .build()
            .map_err(|e| invalid(format!("seccomp profile: {e}")))
    }
}

fn action(name: &str) -> Result<LinuxSeccompAction, RuntimeError> {
    let a: LinuxSeccompAction = serde_json::from_value(serde_json::Value::from(name))
        .map_err(|_| invalid(format!("seccomp profile: unknown action {name:?}")))?;
    if a == LinuxSeccompAction::ScmpActNotify {
        return Err(invalid("seccomp profile: SCMP_ACT_NOTIFY is not supported by this runtime"));
    }
    Ok(a)
}

fn arch(name: &str) -> Result<Arch, RuntimeError> {
    serde_json::from_value(serde_json::Value::from(name))
        .map_err(|_| invalid(format!("seccomp profile: unknown architecture {name:?}")))
}

/// `major.minor[.patch][-flavour]`, as moby's kernel.ParseRelease reads a
/// profile's `minKernel` and the running kernel's release.
pub fn kernel_version(release: &str) -> Result<(u64, u64, u64), RuntimeError> {
    let bad = || invalid(format!("seccomp profile: bad kernel version {release:?}"));
    let numeric = release.split(['-', '+']).next().unwrap_or_default();
    let mut parts = numeric.split('.');
    let mut next = |required: bool| match parts.next() {
        Some(p) => p.parse::<u64>().map_err(|_| bad()),
        None if required => Err(bad()),
        None => Ok(0),
    };
    Ok((next(true)?, next(true)?, next(false)?))
}

/// The running kernel's version (uname's release).
pub fn running_kernel() -> Result<(u64, u64, u64), RuntimeError> {
    let uts = nix::sys::utsname::uname().map_err(|e| invalid(format!("uname: {e}")))?;
    kernel_version(&uts.release().to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(json: &str, caps: &[Capability]) -> Result<Option<LinuxSeccomp>, RuntimeError> {
        DockerProfile::parse(json)?.render(caps, (6, 1, 0))
    }

    fn names(p: &LinuxSeccomp) -> Vec<Vec<String>> {
        p.syscalls().iter().flatten().map(|r| r.names().clone()).collect()
    }

    #[test]
    fn rules_are_kept_as_their_includes_and_excludes_say() {
        let json = r#"{
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "archMap": [
                {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
                {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}
            ],
            "syscalls": [
                {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "comment": "always"},
                {"name": "mount", "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
                {"names": ["s390_pci_mmio_read"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["s390x"]}},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]},
                 "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": {"minKernel": "5.3"}},
                {"names": ["landlock_create_ruleset"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "9.0"}}
            ]
        }"#;
        let p = render(json, &[Capability::Chown]).expect("render").expect("a filter");
        assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(p.default_errno_ret(), Some(1));
        assert_eq!(
            p.architectures().as_deref(),
            Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32][..])
        );
        // No mount without CAP_SYS_ADMIN, no s390 call, clone3 dropped on a
        // 6.1 kernel (excluded from 5.3 on), landlock needs 9.0.
        assert_eq!(names(&p), vec![vec!["read", "write"], vec!["arch_prctl"], vec!["clone"]]);
        let clone = p.syscalls().as_ref().expect("rules")[2].args().clone().expect("args")[0];
        assert_eq!((clone.value(), clone.value_two()), (0, Some(2114060288)), "the mask goes to valueTwo");
        let admin = render(json, &[Capability::SysAdmin]).expect("render").expect("a filter");
        assert_eq!(names(&admin), vec![vec!["read", "write"], vec!["mount"], vec!["arch_prctl"]]);
    }

    #[test]
    fn an_empty_profile_filters_nothing_and_bad_ones_are_refused() {
        assert_eq!(render("{}", &[]).expect("empty"), None);
        let verbatim = render(r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"]}"#, &[])
            .expect("render")
            .expect("a filter");
        assert_eq!(verbatim.architectures().as_deref(), Some(&[Arch::ScmpArchX86_64][..]));
        let refused = |json: &str| match render(json, &[]) {
            Err(RuntimeError::InvalidRequest(m)) => m,
            other => panic!("{json}: {other:?}"),
        };
        assert!(refused("not json").starts_with("Decoding seccomp profile failed: "));
        assert!(refused(r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}"#).contains("use either 'architectures' or 'archMap'"));
        assert!(refused(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"read","names":["write"],"action":"SCMP_ACT_ALLOW"}]}"#).contains("use either 'name' or 'names'"));
        assert!(refused(r#"{"defaultAction":"SCMP_ACT_DANCE"}"#).contains("unknown action"));
        assert!(refused(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#).contains("not supported"));
    }

    #[test]
    fn kernel_versions_read_as_moby_reads_them() {
        assert_eq!(kernel_version("6.1.0-18-amd64").expect("release"), (6, 1, 0));
        assert_eq!(kernel_version("5.3").expect("minKernel"), (5, 3, 0));
        assert_eq!(kernel_version("4.19.112+").expect("plus"), (4, 19, 112));
        assert!(kernel_version("five").is_err());
        assert!(running_kernel().is_ok());
    }
}
