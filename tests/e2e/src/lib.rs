//! berth's end-to-end suites live in `tests/`; each test boots the
//! nested-KVM test bed, so they are `#[ignore]`d in the quick tier and run
//! by `cargo xtask test` (the full tier).
