//! Edge decisions for Vault MCP Bridge.
//!
//! Everything here except [`wasm`] is plain Rust with no proxy-wasm type in it: the same code runs
//! inside Envoy (compiled to `wasm32-wasip1`), in native unit tests, and in the backend's
//! standalone mode. The proxy-wasm adapter only turns host headers into a [`decision::Request`]
//! and a [`decision::Decision`] back into host calls.
#![deny(unsafe_code)]

pub mod apikey;
pub mod assertion;
pub mod config;
pub mod decision;
pub mod error;
pub mod global;
pub mod headers;
pub mod identity;
pub mod jwt;
pub mod mcp;
pub mod mtls;
pub mod ratelimit;
pub mod registry;
pub mod scopes;

#[cfg(target_arch = "wasm32")]
mod wasm;

pub use config::Policy;
pub use decision::{Outcome, Request, Verdict, on_body, on_headers};
pub use identity::Identity;
