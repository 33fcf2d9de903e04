//! `storenode verify`: the store checked against its own log.
use protocol::{codec, OrderId};

use super::*;
use crate::domain::{Order, QueueKey};

/// What `verify` found wrong; empty when the store is consistent.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub events: u64,
    pub orders: u64,
    pub problems: Vec<String>,
}

impl Store {
    /// Check the store against its own log: the log is gapless from 1 to
    /// the head; it is an unbroken hash chain (each entry names the hash
    /// of the one before, and the chain head names the last), so an edited
    /// or removed entry shows; every order's events are numbered without
    /// gaps; and every projection (orders with their timelines, the
    /// by-state index, stock, settings) equals what replaying the log
    /// gives (the log is the truth; projections are derived). Read-only.
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        use std::collections::HashMap;
        let mut report = VerifyReport::default();
        let hq = self.sync_anchor()?;
        let Replay {
            orders: replayed,
            streams,
            items,
            site,
            staff,
            devices,
            docs,
            journal,
        } = replay(&self.tree, hq, &mut report)?;
        if report.events != self.head() {
            report.problems.push(format!(
                "head is {} but the log holds {}",
                self.head(),
                report.events
            ));
        }
        for (id, want) in &replayed {
            match self.order(id)? {
                Some(got) if got == *want => {}
                Some(got) => report.problems.push(format!(
                    "order {id}: stored projection (state {}, seq {}) differs from the log's (state {}, seq {})",
                    got.state.name(),
                    got.last_seq,
                    want.state.name(),
                    want.last_seq
                )),
                None => report.problems.push(format!("order {id}: in the log but has no projection")),
            }
        }
        for (id, seq) in &streams {
            if self.stream_seq(id)? != *seq {
                report.problems.push(format!(
                    "stream {id}: stored sequence differs from the log's {seq}"
                ));
            }
        }
        let mut stored_items: HashMap<String, StockItem> = HashMap::new();
        for kv in self.tree.scan_prefix([b'i']) {
            let (_, v) = kv?;
            let item: StockItem = codec::decode(&v).map_err(|e| StoreError::Corrupt {
                key: "stock".into(),
                reason: e.to_string(),
            })?;
            stored_items.insert(item.item.sku.clone(), item);
        }
        if stored_items != items {
            let mut skus: Vec<&String> = items
                .keys()
                .chain(stored_items.keys())
                .filter(|k| items.get(*k) != stored_items.get(*k))
                .collect();
            skus.sort();
            skus.dedup();
            report.problems.push(format!(
                "stock of {} SKU(s) differs from the log's (first: {})",
                skus.len(),
                skus.first().map_or("", |s| s.as_str())
            ));
        }
        // The ledger: every SKU's on hand is the sum of its movements by
        // kind (received + returned - sold - picked - written off +
        // corrected), and its journal sums to it too.
        let mut journal_sums: HashMap<String, i64> = HashMap::new();
        for (k, e) in &journal {
            let sku = String::from_utf8_lossy(&k[1..k.len() - 10]).into_owned();
            *journal_sums.entry(sku).or_default() += e.delta;
        }
        let mut skus: Vec<&String> = stored_items.keys().collect();
        skus.sort();
        for sku in skus {
            let i = &stored_items[sku];
            if i.ledger.on_hand() != i.on_hand {
                report.problems.push(format!(
                    "SKU {sku}: on hand {} but its ledger says {} (received {} + returned {} - sold {} - picked {} - written off {} + corrected {})",
                    i.on_hand, i.ledger.on_hand(), i.ledger.received, i.ledger.returned,
                    i.ledger.sold, i.ledger.picked, i.ledger.written_off, i.ledger.corrected
                ));
            }
            let j = journal_sums.get(sku).copied().unwrap_or(0);
            if j != i.on_hand {
                report.problems.push(format!(
                    "SKU {sku}: on hand {} but its movement journal sums to {j}",
                    i.on_hand
                ));
            }
        }
        let mut stored_journal = std::collections::BTreeMap::new();
        for kv in self.tree.scan_prefix([b'j']) {
            let (k, v) = kv?;
            let e: super::JournalEntry = codec::decode(&v).map_err(|e| StoreError::Corrupt {
                key: "journal".into(),
                reason: e.to_string(),
            })?;
            stored_journal.insert(k.to_vec(), e);
        }
        if stored_journal != journal {
            report
                .problems
                .push("the stock movement journal differs from the log's".into());
        }
        let mut stored_docs = std::collections::BTreeMap::new();
        for kv in self.tree.scan_prefix([b'r']) {
            let (k, v) = kv?;
            let d: crate::domain::stock::StockDoc =
                codec::decode(&v).map_err(|e| StoreError::Corrupt {
                    key: "stock document".into(),
                    reason: e.to_string(),
                })?;
            stored_docs.insert(k.to_vec(), d);
        }
        if stored_docs != docs {
            let differ = docs
                .keys()
                .chain(stored_docs.keys())
                .find(|k| docs.get(*k) != stored_docs.get(*k))
                .map(|k| String::from_utf8_lossy(&k[2..]).into_owned())
                .unwrap_or_default();
            report.problems.push(format!(
                "stock documents (receipts, deliveries, count tasks) differ from the log's (first: {differ})"
            ));
        }
        // Independent of the stock effects the writer applies (a leak in
        // `effects::effects` would replay the same way): what is reserved
        // of each SKU must be what the orders holding a reservation still
        // owe of it.
        let mut owed: HashMap<String, i64> = HashMap::new();
        for o in replayed.values().filter(|o| o.holds_reservation()) {
            for q in o.outstanding() {
                *owed.entry(q.sku).or_default() += i64::from(q.quantity);
            }
        }
        let mut skus: Vec<&String> = stored_items.keys().chain(owed.keys()).collect();
        skus.sort();
        skus.dedup();
        for sku in skus {
            let reserved = stored_items.get(sku).map_or(0, |i| i.reserved);
            let want = owed.get(sku).copied().unwrap_or(0);
            if reserved != want {
                report.problems.push(format!(
                    "SKU {sku}: {reserved} reserved, but the open orders still owe {want}"
                ));
            }
        }
        if self.site() != site {
            report
                .problems
                .push("store settings differ from the log's".into());
        }
        let mut stored_staff: HashMap<String, StaffMember> = HashMap::new();
        for kv in self.tree.scan_prefix([b'u']) {
            let (_, v) = kv?;
            let m: StaffMember = codec::decode(&v).map_err(|e| StoreError::Corrupt {
                key: "staff".into(),
                reason: e.to_string(),
            })?;
            stored_staff.insert(m.id.clone(), m);
        }
        let in_memory: HashMap<String, StaffMember> = self
            .staff_list()
            .into_iter()
            .map(|m| (m.id.clone(), m))
            .collect();
        if stored_staff != staff || in_memory != staff {
            report
                .problems
                .push("staff accounts differ from the log's".into());
        }
        let stored_devices: HashMap<String, crate::domain::Device> =
            Store::load_devices(&self.tree)?
                .into_list()
                .into_iter()
                .map(|d| (d.name.clone(), d))
                .collect();
        let in_memory: HashMap<String, crate::domain::Device> = self
            .device_list()
            .into_iter()
            .map(|d| (d.name.clone(), d))
            .collect();
        if stored_devices != devices || in_memory != devices {
            report
                .problems
                .push("registered devices differ from the log's".into());
        }
        if let Ok(queue) = self.queue.read() {
            if let Some(q) = queue.as_ref() {
                let want: std::collections::BTreeSet<QueueKey> =
                    replayed.values().filter_map(QueueKey::of).collect();
                if q.keys != want {
                    report
                        .problems
                        .push("the pick queue disagrees with the log".into());
                }
            }
        }
        let want: std::collections::BTreeMap<OrderId, u64> = replayed
            .values()
            .filter_map(|o| o.waiting_since().map(|at| (o.id.clone(), at)))
            .collect();
        let indexed: std::collections::BTreeMap<OrderId, u64> =
            self.arrivals().into_iter().collect();
        if want != indexed {
            report
                .problems
                .push("the list of waiting customers disagrees with the log".into());
        }
        let want: std::collections::BTreeSet<(OrderState, OrderId)> =
            replayed.values().map(|o| (o.state, o.id.clone())).collect();
        let indexed = self.states.read().map(|s| s.clone()).unwrap_or_default();
        for (state, id) in indexed.symmetric_difference(&want) {
            report.problems.push(format!(
                "state index entry {}/{id} disagrees with the log",
                state.name()
            ));
        }
        let want: std::collections::BTreeSet<OrderId> = replayed
            .values()
            .filter(|o| o.overdue())
            .map(|o| o.id.clone())
            .collect();
        let indexed = self.overdue.read().map(|s| s.clone()).unwrap_or_default();
        for id in indexed.symmetric_difference(&want) {
            report.problems.push(format!(
                "late-order index entry {id} disagrees with the log"
            ));
        }
        report.orders = replayed.len() as u64;
        Ok(report)
    }
}

/// What replaying the log gives: every projection, as the log says it.
pub(crate) struct Replay {
    pub orders: std::collections::BTreeMap<OrderId, Order>,
    pub streams: std::collections::HashMap<OrderId, u64>,
    pub items: std::collections::HashMap<String, StockItem>,
    pub site: Site,
    pub staff: std::collections::HashMap<String, StaffMember>,
    pub devices: std::collections::HashMap<String, crate::domain::Device>,
    /// Stock documents by their key bytes.
    pub docs: std::collections::BTreeMap<Vec<u8>, crate::domain::stock::StockDoc>,
    /// The movement journal by its key bytes.
    pub journal: std::collections::BTreeMap<Vec<u8>, super::JournalEntry>,
}

/// Replay the log of `tree`, noting in `report` what is wrong with the
/// log itself (gaps, the hash chain, HQ's anchor `hq`, stream numbering,
/// events for unknown orders or staff). Reads nothing but the log.
pub(crate) fn replay(
    tree: &sled::Tree,
    hq: ChainHead,
    report: &mut VerifyReport,
) -> Result<Replay, StoreError> {
    use std::collections::{BTreeMap, HashMap};
    let mut replayed: BTreeMap<OrderId, Order> = BTreeMap::new();
    let mut streams: HashMap<OrderId, u64> = HashMap::new();
    let mut items: HashMap<String, StockItem> = HashMap::new();
    let mut site = Site::default();
    let mut staff: HashMap<String, StaffMember> = HashMap::new();
    let mut devices: HashMap<String, crate::domain::Device> = HashMap::new();
    let mut docs = BTreeMap::new();
    let mut journal = BTreeMap::new();
    let mut expected_seq = 1;
    let mut prev_hash = [0u8; 32];
    // What HQ acknowledged: the log must still hold that entry, with
    // that hash (HQ holds it too, so recomputing the chain after an
    // edit does not hide the edit).
    let mut hq_seen = hq.seq == 0;
    for kv in tree.scan_prefix([b'l']) {
        let (k, v) = kv?;
        let seq = be_u64(&k[1..], "log key")?;
        if seq != expected_seq {
            report
                .problems
                .push(format!("log gap: expected {expected_seq}, found {seq}"));
        }
        expected_seq = seq + 1;
        let env = decode_env(seq, &v)?;
        if env.prev_hash.0 != prev_hash {
            report.problems.push(format!(
                "hash chain broken at log {seq}: the entry before it was changed or removed"
            ));
        }
        prev_hash = chain_hash(&v);
        if seq == hq.seq {
            hq_seen = true;
            if prev_hash != hq.hash {
                report.problems.push(format!(
                    "log {seq} is not the entry HQ acknowledged: the log was changed at or before it (HQ's receiver has the original)"
                ));
            }
        }
        if env.log_seq != seq {
            report.problems.push(format!(
                "log {seq} holds an event claiming log_seq {}",
                env.log_seq
            ));
        }
        let before = replayed.remove(&env.order_id);
        let want_seq = match &before {
            Some(o) => o.last_seq + 1,
            None => streams.get(&env.order_id).map_or(1, |s| s + 1),
        };
        if env.order_seq != want_seq {
            report.problems.push(format!(
                "stream {}: event at log {seq} has order_seq {}, expected {want_seq}",
                env.order_id, env.order_seq
            ));
        }
        let mut moved: HashMap<String, u8> = HashMap::new();
        for e in crate::domain::effects::effects(before.as_ref(), &env.event, env.time_ms) {
            match crate::domain::inventory::effect_sku(&e) {
                Some(sku) => {
                    let sku = sku.to_string();
                    let cur = items.remove(&sku);
                    if let Some((delta, kind)) =
                        crate::domain::inventory::movement(cur.as_ref(), &e)
                    {
                        let n = moved.entry(sku.clone()).or_insert(0);
                        journal.insert(
                            super::stock_docs::journal_key(&sku, seq, *n),
                            super::JournalEntry { delta, kind },
                        );
                        *n = n.saturating_add(1);
                    }
                    if let Some(i) = crate::domain::inventory::apply_to_item(cur, &e) {
                        items.insert(sku, i);
                    }
                }
                None => site = crate::domain::inventory::apply_to_site(site, &e),
            }
        }
        for k in crate::domain::stock::doc_keys(&env.event) {
            let bytes = super::stock_docs::doc_key(&k);
            let cur = docs.remove(&bytes);
            if let Some(d) = crate::domain::stock::apply_doc(&k, cur, &env.event, seq, env.time_ms)
            {
                docs.insert(bytes, d);
            }
        }
        if let Some(id) = crate::domain::staff::staff_id_of(&env.event) {
            let cur = staff.remove(id);
            match crate::domain::staff::apply(cur, &env.event, env.time_ms) {
                Some(m) => {
                    staff.insert(m.id.clone(), m);
                }
                None => report
                    .problems
                    .push(format!("log {seq}: change of unknown staff member {id}")),
            }
        }
        if let Some(name) = crate::domain::device::device_name_of(&env.event) {
            let cur = devices.remove(name);
            if let Some(d) = crate::domain::device::apply(cur, &env.event, env.time_ms) {
                devices.insert(d.name.clone(), d);
            }
        }
        if env.order_id.is_reserved() {
            streams.insert(env.order_id.clone(), env.order_seq);
        } else {
            match crate::domain::order::apply(before, &env) {
                Some(o) => {
                    replayed.insert(env.order_id.clone(), o);
                }
                None => report.problems.push(format!(
                    "log {seq}: event for unknown order {}",
                    env.order_id
                )),
            }
        }
        report.events += 1;
    }
    if !hq_seen {
        report.problems.push(format!(
            "HQ acknowledged log {} but the log does not hold it: entries were removed",
            hq.seq
        ));
    }
    let anchor = chain_head_of(tree)?;
    let cut = report.events == 0 && anchor.seq > 0;
    if cut || (report.events > 0 && (anchor.seq != report.events || anchor.hash != prev_hash)) {
        report.problems.push(format!(
            "hash chain head names log {} but the log ends at {} with another hash: entries were changed or removed at the end",
            anchor.seq, report.events
        ));
    }
    Ok(Replay {
        orders: replayed,
        streams,
        items,
        site,
        staff,
        devices,
        docs,
        journal,
    })
}
