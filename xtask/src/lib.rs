//! berth's developer tasks (`cargo xtask ...`), as a library so that the
//! end-to-end suites can drive the test bed directly.

pub mod bench_boot;
pub mod bench_boot_loop;
pub mod bench_build;
pub mod bench_engine;
pub mod bench_fs;
pub mod bench_pull;
pub mod bench_run;
pub mod bench_run_api;
pub mod cache;
pub mod compat;
pub mod cpio;
pub mod elf;
pub mod error;
pub mod fixtures;
pub mod fuzz;
pub mod guest_boot;
pub mod images;
pub mod kvm_entry_trace;
pub mod kvm_exit_trace;
pub mod lock;
pub mod machine_start;
pub mod module_contracts;
pub mod module_graph;
pub mod paths;
pub mod prereq;
pub mod process;
pub mod progress;
pub mod testbed;
pub mod tiers;
