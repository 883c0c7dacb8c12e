//! Container commands: run/create/start, the lifecycle verbs, ps, logs,
//! exec, inspect/top/stats, cp, commit and update.

pub mod commit;
pub mod config;
pub mod cp;
pub mod exec;
pub mod health;
pub mod inspect;
pub mod lifecycle;
pub mod logs;
pub mod ps;
pub mod run;
pub mod stdio;
pub mod tar_pipe;
pub mod update;
