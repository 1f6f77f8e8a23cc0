//! The stand-in's tests, one binary: its wire contract against botocore's models, the modeled
//! state machine and its other resource kinds, the Runtime API emulator, sweep fixtures, HTTP
//! behaviour and the TLS listener.

#![allow(dead_code)]

mod botocore_routes;
mod common;
mod kinds;
mod model;
mod runtime_api;
mod sweep;
mod tls;
mod wire;
