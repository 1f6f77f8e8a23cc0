//! The stand-in's tests, one binary: its wire contract against botocore's models, the modeled
//! state machine, the Runtime API emulator, sweep fixtures, HTTP behaviour and the TLS listener.

#![allow(dead_code)]

mod botocore_routes;
mod common;
mod model;
mod runtime_api;
mod sweep;
mod tls;
mod wire;
