//! storenode: the store-fulfillment node.
//!
//! See ARCHITECTURE.md for the parts and the invariants each enforces.
#![forbid(unsafe_code)]

pub mod app;
pub(crate) mod broker;
pub(crate) mod clock;
pub mod config;
pub mod data_dir;
pub(crate) mod demo;
pub mod domain;
pub(crate) mod i18n;
pub mod import;
pub mod metrics;
pub(crate) mod net;
pub mod ops;
pub(crate) mod pin;
pub mod pki;
pub(crate) mod read;
pub mod services;
pub(crate) mod shutdown;
#[cfg(test)]
mod stock_props;
pub mod store;
pub mod sync;
pub(crate) mod web;

/// Check a device name: it becomes an MQTT user name and part of topics.
pub fn check_device_name(name: &str) -> Result<(), String> {
    protocol::StoreId::new(name)
        .map(|_| ())
        .map_err(|e| format!("device name {e}"))
}

/// Compare two secrets (tokens, CSRF tokens, password hashes) in constant
/// time: the one place the node does it (`subtle`).
pub fn secret_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    bool::from(a.ct_eq(b))
}
