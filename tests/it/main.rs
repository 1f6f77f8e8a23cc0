//! The integration tests, one binary (each test binary links the whole AWS SDK): the real
//! handler and SDK clients, and the compiled `bootstrap`, against the local stand-in over loopback.

#![allow(dead_code)]

mod bootstrap;
mod common;
mod concurrency;
mod custom_resource;
mod dependencies;
mod eventbridge;
mod fault_matrix;
mod hostile_input;
mod metrics;
mod sweep;
