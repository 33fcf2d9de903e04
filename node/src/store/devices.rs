//! Registered devices: the projection of DeviceRegistered / DeviceRemoved
//! (prefix `v`, by device name), kept in memory too, with the broker
//! login check and the namespace (tenant) lookup the intake and the
//! notification service make for every message.
use std::collections::HashMap;

use protocol::codec;
use rand::Rng as _;
use sha2::{Digest, Sha256};

use super::{key, Store, StoreError};
use crate::domain::Device;

pub(crate) fn device_key(name: &str) -> Vec<u8> {
    key(b'v', &[name.as_bytes()])
}

/// A new device password (24 random letters and digits) with its salt and
/// salted SHA-256, both hex, as a RegisterDevice command carries them.
pub fn new_password() -> (String, String, String) {
    let mut rng = rand::thread_rng();
    let password: String = (0..24)
        .map(|_| rng.sample(rand::distributions::Alphanumeric) as char)
        .collect();
    let salt: [u8; 16] = rng.gen();
    let hash = password_hash(&salt, &password);
    (password, hex::encode(salt), hex::encode(hash))
}

fn password_hash(salt: &[u8], password: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(password.as_bytes());
    h.finalize().into()
}

/// Devices by name, in memory.
#[derive(Debug, Default)]
pub(crate) struct Devices {
    by_name: HashMap<String, Device>,
    /// Tenant id → name.
    by_tenant: HashMap<String, String>,
}

impl Devices {
    pub(crate) fn into_list(self) -> Vec<Device> {
        self.by_name.into_values().collect()
    }

    pub(crate) fn put(&mut self, name: &str, device: Option<Device>) {
        if let Some(old) = self.by_name.remove(name) {
            self.by_tenant.remove(&old.tenant);
        }
        if let Some(d) = device {
            self.by_tenant.insert(d.tenant.clone(), d.name.clone());
            self.by_name.insert(d.name.clone(), d);
        }
    }
}

impl Store {
    pub(crate) fn load_devices(tree: &sled::Tree) -> Result<Devices, StoreError> {
        let mut devices = Devices::default();
        for kv in tree.scan_prefix([b'v']) {
            let (k, v) = kv?;
            let d: Device = codec::decode(&v).map_err(|e| StoreError::Corrupt {
                key: format!("device {}", String::from_utf8_lossy(&k[1..])),
                reason: e.to_string(),
            })?;
            devices.put(&d.name.clone(), Some(d));
        }
        Ok(devices)
    }

    /// Publish durable device changes to readers.
    pub(crate) fn update_devices(&self, changed: Vec<(String, Option<Device>)>) {
        if changed.is_empty() {
            return;
        }
        if let Ok(mut d) = self.devices.write() {
            for (name, device) in changed {
                d.put(&name, device);
            }
        }
    }

    pub fn device(&self, name: &str) -> Option<Device> {
        self.devices.read().ok()?.by_name.get(name).cloned()
    }

    /// The device whose namespace is `/tenants/{tenant}/`.
    pub fn device_by_tenant(&self, tenant: &str) -> Option<Device> {
        let d = self.devices.read().ok()?;
        let name = d.by_tenant.get(tenant)?;
        d.by_name.get(name).cloned()
    }

    /// Every registered device, by name.
    pub fn device_list(&self) -> Vec<Device> {
        let mut out: Vec<Device> = self
            .devices
            .read()
            .map(|d| d.by_name.values().cloned().collect())
            .unwrap_or_default();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// The namespaces a notice on `channel` goes to: every device whose
    /// kind hears it; a locker's notices only to the locker that owns the
    /// compartment.
    pub fn tenants_hearing(
        &self,
        channel: crate::domain::notification::NoticeChannel,
        compartment: Option<&str>,
    ) -> Vec<String> {
        let Ok(d) = self.devices.read() else {
            return vec![];
        };
        d.by_name
            .values()
            .filter(|dev| crate::domain::device::channels(dev.kind).contains(&channel))
            .filter(|dev| {
                dev.kind != protocol::DeviceKind::Locker || compartment.is_some_and(|c| dev.owns(c))
            })
            .map(|dev| dev.tenant.clone())
            .collect()
    }

    /// Check a device's MQTT credentials.
    pub fn check_device(&self, name: &str, password: &str) -> bool {
        let Some(d) = self.device(name) else {
            return false;
        };
        let (Ok(salt), Ok(hash)) = (hex::decode(&d.salt), hex::decode(&d.password_hash)) else {
            return false;
        };
        crate::secret_eq(&password_hash(&salt, password), &hash)
    }
}
