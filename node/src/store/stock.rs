//! The in-memory stock: catalog, stock, settings, staff and the pickup
//! codes of orders ready, read by every decision; persisted by the writer
//! per SKU under `i` (and `g`, `u`), loaded at open.
use protocol::OrderId;

use super::Store;
use crate::domain::{Site, StaffMember, StockItem};

/// Catalog, stock and settings, kept in memory (a store has thousands of
/// SKUs, not millions) and persisted per SKU under `i`.
#[derive(Debug, Default)]
pub(crate) struct Stock {
    pub(super) items: std::collections::HashMap<String, StockItem>,
    /// Barcode → SKU.
    pub(super) barcodes: std::collections::HashMap<String, String>,
    pub(super) site: Site,
    /// Short pickup code → order, for orders ready for pickup.
    pub(super) codes: std::collections::HashMap<String, OrderId>,
    /// Staff accounts by id.
    pub(super) staff: std::collections::HashMap<String, StaffMember>,
}

impl Stock {
    pub(super) fn put(&mut self, item: StockItem) {
        if let Some(old) = self.items.get(&item.item.sku) {
            for b in &old.item.barcodes {
                // Only if it still names this SKU: a barcode may have moved
                // to another SKU in the same group.
                if self.barcodes.get(b) == Some(&item.item.sku) {
                    self.barcodes.remove(b);
                }
            }
        }
        for b in &item.item.barcodes {
            self.barcodes.insert(b.clone(), item.item.sku.clone());
        }
        self.items.insert(item.item.sku.clone(), item);
    }
}

impl Store {
    /// Publish durable stock, settings and staff changes to readers.
    pub(crate) fn update_stock(
        &self,
        items: Vec<StockItem>,
        site: Option<Site>,
        staff: Vec<StaffMember>,
    ) {
        if let Ok(mut stock) = self.stock.write() {
            for i in items {
                stock.put(i);
            }
            if let Some(site) = site {
                stock.site = site;
            }
            for m in staff {
                stock.staff.insert(m.id.clone(), m);
            }
        }
    }

    /// One staff account.
    pub fn staff(&self, id: &str) -> Option<StaffMember> {
        self.stock.read().ok()?.staff.get(id).cloned()
    }

    /// Every staff account, by id.
    pub fn staff_list(&self) -> Vec<StaffMember> {
        let mut out: Vec<StaffMember> = self
            .stock
            .read()
            .map(|s| s.staff.values().cloned().collect())
            .unwrap_or_default();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// One SKU's catalog entry and stock, its safety stock resolved.
    pub fn item(&self, sku: &str) -> Option<StockItem> {
        let stock = self.stock.read().ok()?;
        stock.items.get(sku).cloned().map(|i| stock.site.resolve(i))
    }

    /// Every SKU the store keeps stock of (listed or not).
    pub fn stock_skus(&self) -> Vec<String> {
        self.stock
            .read()
            .map(|s| s.items.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The listed SKUs whose availability HQ has not heard yet.
    pub fn unpublished(&self) -> Vec<String> {
        self.stock
            .read()
            .map(|s| {
                s.items
                    .values()
                    .filter(|i| {
                        let i = s.site.resolve((*i).clone());
                        i.listed && i.published != u64::try_from(i.available()).ok()
                    })
                    .map(|i| i.item.sku.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn sku_for_barcode(&self, barcode: &str) -> Option<String> {
        self.stock.read().ok()?.barcodes.get(barcode).cloned()
    }

    pub fn site(&self) -> Site {
        self.stock
            .read()
            .map(|s| s.site.clone())
            .unwrap_or_default()
    }

    /// Every SKU, sorted by walking order (location, then SKU), safety
    /// stock resolved.
    pub fn stock_items(&self) -> Vec<StockItem> {
        let mut out: Vec<StockItem> = self
            .stock
            .read()
            .map(|s| {
                s.items
                    .values()
                    .map(|i| s.site.resolve(i.clone()))
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by(|a, b| (a.item.location, &a.item.sku).cmp(&(b.item.location, &b.item.sku)));
        out
    }
}
