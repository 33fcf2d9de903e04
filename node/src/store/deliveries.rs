//! Notices waiting for a device's acknowledgement, kept across restarts so
//! that a locker's `open` or a screen's `show` is sent again after a crash
//! until the device says it acted. Not events: a delivery is the node
//! talking to a device, not a fact about the store's business; the event
//! that caused the notice is in the log already.
use serde::{Deserialize, Serialize};

use super::{key, Store, StoreError};
use protocol::codec;

/// One notice for one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingNotice {
    /// The device's namespace.
    pub tenant: String,
    pub notice_id: String,
    /// The order (or `_store`) it is about.
    pub order_id: String,
    pub channel: String,
    /// The JSON notice, exactly as first sent.
    pub payload: Vec<u8>,
    /// When it was first queued (node time, Unix ms).
    pub queued_ms: u64,
}

fn delivery_key(tenant: &str, notice_id: &str) -> Vec<u8> {
    key(b'a', &[tenant.as_bytes(), notice_id.as_bytes()])
}

impl Store {
    /// Keep a notice until its device acknowledges it. Not flushed on its
    /// own: it rides on the next group commit (a crash before that replays
    /// the event, which queues it again).
    pub fn put_delivery(&self, p: &PendingNotice) -> Result<(), StoreError> {
        self.tree()
            .insert(delivery_key(&p.tenant, &p.notice_id), codec::encode(p))?;
        Ok(())
    }

    /// Forget a notice; whether it was there.
    pub fn remove_delivery(&self, tenant: &str, notice_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .tree()
            .remove(delivery_key(tenant, notice_id))?
            .is_some())
    }

    /// Every notice still waiting, by device then id. An entry that does
    /// not decode (written by a future version) is dropped: a notice is a
    /// message, not a record.
    pub fn deliveries(&self) -> Result<Vec<PendingNotice>, StoreError> {
        let mut out = Vec::new();
        for kv in self.tree().scan_prefix([b'a']) {
            let (k, v) = kv?;
            match codec::decode::<PendingNotice>(&v) {
                Ok(p) => out.push(p),
                Err(e) => {
                    tracing::warn!(error = %e, "an unreadable pending notice was dropped");
                    self.tree().remove(k)?;
                }
            }
        }
        Ok(out)
    }
}
