//! berth's guest kernel and Debian's stock kernel both boot to the agent on
//! real KVM in the test bed (under QEMU until berth-vmm boots Linux): the
//! agent as PID 1 serves the engine on vsock port 2375, answers `/_ping`,
//! and ends the VM cleanly on `/berth/v1/shutdown` (guest-boot fails
//! otherwise).

use std::time::Duration;

use xtask::testbed::{self, Options};

fn boot(kernel: &str) -> String {
    let opts = Options::suite(Duration::from_secs(600));
    let cmd = ["xtask", "guest-boot", "--kernel", kernel, "--console"].map(String::from);
    let o = testbed::run(&opts, &cmd).unwrap_or_else(|e| panic!("test bed failed: {e}"));
    assert_eq!(o.status, 0, "console:\n{}", o.console);
    o.console
}

#[test]
#[ignore = "boots the nested-KVM test bed (full tier: cargo xtask test)"]
fn berth_kernel_reaches_the_agent() {
    let console = boot("berth");
    assert!(console.contains("berth-agent: init reached after"), "{console}");
    assert!(console.contains("engine listening on vsock port 2375"), "{console}");
    assert!(console.contains("engine answered /_ping over vsock"), "{console}");
    assert!(console.contains("berth-agent: engine stopped; powering off"), "{console}");
    // Everything is built in: the agent has no module to load.
    assert!(!console.contains("cannot load module"), "{console}");
}

#[test]
#[ignore = "boots the nested-KVM test bed (full tier: cargo xtask test)"]
fn debian_kernel_reaches_the_agent_and_loads_its_modules() {
    let console = boot("debian");
    assert!(console.contains("berth-agent: init reached after"), "{console}");
    assert!(console.contains("kernel modules"), "the agent should report the modules it loaded:\n{console}");
    assert!(console.contains("engine answered /_ping over vsock"), "{console}");
    assert!(!console.contains("cannot load module"), "{console}");
}
