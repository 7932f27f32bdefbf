//! Helpers shared by the integration tests (`mod support;` in a test file).
// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

pub mod vm;
