//! Everything that depends on the guest's CPU architecture. berth boots
//! x86_64 guests only; the submodule holds the layout of guest physical
//! memory and the state a vCPU starts in. Nothing here talks to devices.

pub mod x86_64;
