//! Code shared by the integration tests (and, through `#[path]`, the fuzz target).
#![allow(dead_code)]

pub mod counted;
pub mod program;
