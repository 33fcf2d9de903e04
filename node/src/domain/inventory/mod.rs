//! Inventory: catalog, stock on hand, reservations, store settings.
//!
//! Stock is a projection of the log like everything else: each event's
//! effect on it is given by [`effects`](super::effects::effects) (a pure
//! function of the order as it was before the event, the event and its
//! time), so `storenode verify` can replay it. Every change of on-hand stock is a [`Move`] of one kind, and
//! each SKU keeps the running [`Ledger`] of them: on hand is always
//! `received + returned - sold - picked - written_off + corrected`
//! (docs/stock.md).
use std::collections::BTreeMap;

use protocol::{CatalogEntry, CatalogItem, Event, SafetyScope, SkuQuantity, Zone};
use serde::{Deserialize, Serialize};

use super::{Ctx, Decision, Rejection};

/// What kind of movement changed on-hand stock: the ledger's columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Move {
    /// Goods received (deliveries).
    Received,
    /// Customers' returns at the till (undamaged), and voided sales.
    Returned,
    /// Till sales (a void of a sale puts them back here too: net sold).
    Sold,
    /// Taken for online orders (net of what went back: cancellations,
    /// expiries).
    Picked,
    /// Written off: damaged, out of date, shrinkage, damaged returns.
    WrittenOff,
    /// Counts, HQ snapshots and manual corrections: what makes the books
    /// agree with the shelf.
    Corrected,
}

impl Move {
    pub fn name(self) -> &'static str {
        match self {
            Move::Received => "received",
            Move::Returned => "returned",
            Move::Sold => "sold",
            Move::Picked => "picked",
            Move::WrittenOff => "written_off",
            Move::Corrected => "corrected",
        }
    }
}

/// The running totals of one SKU's movements since the log began. Units
/// in, as positive numbers: `sold`, `picked` and `written_off` count what
/// left.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub received: i64,
    pub returned: i64,
    pub sold: i64,
    pub picked: i64,
    pub written_off: i64,
    pub corrected: i64,
}

impl Ledger {
    /// Book a change of `delta` units of on-hand stock.
    pub fn book(&mut self, kind: Move, delta: i64) {
        match kind {
            Move::Received => self.received = self.received.saturating_add(delta),
            Move::Returned => self.returned = self.returned.saturating_add(delta),
            Move::Sold => self.sold = self.sold.saturating_sub(delta),
            Move::Picked => self.picked = self.picked.saturating_sub(delta),
            Move::WrittenOff => self.written_off = self.written_off.saturating_sub(delta),
            Move::Corrected => self.corrected = self.corrected.saturating_add(delta),
        }
    }

    /// What on hand must be: `received + returned - sold - picked -
    /// written_off + corrected`.
    pub fn on_hand(&self) -> i64 {
        self.received
            .saturating_add(self.returned)
            .saturating_sub(self.sold)
            .saturating_sub(self.picked)
            .saturating_sub(self.written_off)
            .saturating_add(self.corrected)
    }
}

/// The last time the shelf was counted (or set by HQ's books).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastCount {
    /// When the count (or the snapshot it came from) was true (unix ms).
    pub as_of_ms: u64,
    pub on_hand: i64,
}

/// One SKU: its catalog entry, what is on the shelf, what open orders hold
/// of it, and how it got there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockItem {
    pub item: CatalogItem,
    pub on_hand: i64,
    pub reserved: i64,
    /// In the catalog. `false`: only the till knows it so far (a sale of
    /// an SKU the catalog lacks is kept here and applies when it is listed).
    pub listed: bool,
    /// The catalog's category (safety stock by category).
    pub category: Option<String>,
    /// The SKU's own safety stock, if set.
    pub safety_own: Option<u32>,
    pub ledger: Ledger,
    pub last_count: Option<LastCount>,
    /// The open count task, if any.
    pub count_task: Option<String>,
    /// The availability HQ last heard (`AvailabilityChanged`, snapshots).
    pub published: Option<u64>,
    /// Safety stock in force: the SKU's own, else its category's, else the
    /// store's. Resolved when the item is read (it depends on the store's
    /// settings), never stored.
    #[serde(skip)]
    pub safety: u32,
}

impl StockItem {
    /// A listed item with nothing on the shelf yet.
    pub fn new(item: CatalogItem) -> Self {
        StockItem {
            item,
            on_hand: 0,
            reserved: 0,
            listed: true,
            category: None,
            safety_own: None,
            ledger: Ledger::default(),
            last_count: None,
            count_task: None,
            published: None,
            safety: 0,
        }
    }

    /// An SKU the till sold before the catalog listed it.
    fn unlisted(sku: &str) -> Self {
        let mut s = StockItem::new(CatalogItem {
            sku: sku.to_string(),
            name: sku.to_string(),
            barcodes: vec![],
            location: protocol::Location {
                aisle: u16::MAX,
                bay: u16::MAX,
                shelf: u16::MAX,
            },
            zone: Zone::Ambient,
            unit_price_cents: 0,
            age_restricted: false,
        });
        s.listed = false;
        s
    }

    /// What a new order may still take: `max(0, on_hand - reserved -
    /// safety)` (with [`StockItem::safety`] resolved, as every read gives).
    pub fn available(&self) -> i64 {
        if !self.listed {
            return 0;
        }
        self.on_hand
            .saturating_sub(self.reserved)
            .saturating_sub(i64::from(self.safety))
            .max(0)
    }

    /// Open orders hold more than the node believes is on the shelf: some
    /// of them will find it empty (a short or a till sale said so).
    pub fn short_for_orders(&self) -> bool {
        self.reserved > 0 && self.on_hand < self.reserved
    }
}

/// Store-wide settings kept in the log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Site {
    /// `Some(reason)` while the store takes no orders.
    pub closed: Option<String>,
    /// The store's own pickup window and reminder (`None`: the node's
    /// configuration, `pickup.expiry_s` and `pickup.reminder_s`).
    pub pickup: Option<PickupTimes>,
    /// Safety stock for SKUs without a setting of their own or of their
    /// category.
    pub safety_default: Option<u32>,
    /// Safety stock by category.
    pub safety_by_category: BTreeMap<String, u32>,
}

/// How long a ready order waits, and when the customer is reminded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickupTimes {
    pub expiry_s: u64,
    /// Seconds before expiry; 0: no reminder.
    pub reminder_s: u64,
}

impl Site {
    /// The pickup window in force: the store's, else `default`.
    pub fn pickup_times(&self, default: PickupTimes) -> PickupTimes {
        self.pickup.unwrap_or(default)
    }

    /// The safety stock in force for `item`.
    pub fn safety_for(&self, item: &StockItem) -> u32 {
        item.safety_own
            .or_else(|| {
                item.category
                    .as_ref()
                    .and_then(|c| self.safety_by_category.get(c).copied())
            })
            .or(self.safety_default)
            .unwrap_or(0)
    }

    /// `item` as readers see it: its safety stock resolved.
    pub fn resolve(&self, mut item: StockItem) -> StockItem {
        item.safety = self.safety_for(&item);
        item
    }
}

/// The settings record as written before the store could set its own
/// pickup window (read at open, then rewritten in the new form).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteV1 {
    pub closed: Option<String>,
}

/// The settings record of formats 1 and 2 (before safety stock).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteV2 {
    pub closed: Option<String>,
    pub pickup: Option<PickupTimes>,
}

impl From<SiteV1> for Site {
    fn from(v: SiteV1) -> Self {
        Site {
            closed: v.closed,
            ..Site::default()
        }
    }
}

impl From<SiteV2> for Site {
    fn from(v: SiteV2) -> Self {
        Site {
            closed: v.closed,
            pickup: v.pickup,
            ..Site::default()
        }
    }
}

/// The stock record of formats 1 and 2 (before the ledger).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockItemV2 {
    pub item: CatalogItem,
    pub on_hand: i64,
    pub reserved: i64,
}

/// One change an event makes to stock or settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Listed (or relisted) in the catalog; `category: Some` sets the
    /// category (`Some(None)` clears it), `None` leaves it.
    Catalog {
        item: CatalogItem,
        category: Option<Option<String>>,
    },
    OnHand {
        sku: String,
        delta: i64,
        kind: Move,
    },
    /// On hand set (a count, an import, HQ's books), true as of `as_of_ms`.
    Count {
        sku: String,
        on_hand: i64,
        as_of_ms: u64,
    },
    Reserve {
        sku: String,
        delta: i64,
    },
    Closed(Option<String>),
    PickupTimes(PickupTimes),
    Safety {
        scope: SafetyScope,
        safety: Option<u32>,
    },
    /// The SKU's open count task (`None`: closed).
    CountTask {
        sku: String,
        task: Option<String>,
    },
    /// HQ heard this availability.
    Published {
        sku: String,
        available: u64,
    },
}

/// The SKU an effect changes, if any (else it changes the settings).
pub fn effect_sku(e: &Effect) -> Option<&str> {
    match e {
        Effect::Catalog { item, .. } => Some(&item.sku),
        Effect::OnHand { sku, .. }
        | Effect::Count { sku, .. }
        | Effect::Reserve { sku, .. }
        | Effect::CountTask { sku, .. }
        | Effect::Published { sku, .. } => Some(sku),
        Effect::Safety {
            scope: SafetyScope::Sku(sku),
            ..
        } => Some(sku),
        Effect::Closed(_) | Effect::PickupTimes(_) | Effect::Safety { .. } => None,
    }
}

/// The change of on-hand stock an effect makes to `item` (for the SKU's
/// movement journal): `(delta, kind)`.
pub fn movement(item: Option<&StockItem>, e: &Effect) -> Option<(i64, Move)> {
    match e {
        Effect::OnHand { delta, kind, .. } if *delta != 0 => Some((*delta, *kind)),
        Effect::Count { on_hand, .. } => {
            let before = item.map_or(0, |i| i.on_hand);
            (*on_hand != before).then(|| (on_hand.saturating_sub(before), Move::Corrected))
        }
        _ => None,
    }
}

/// Apply an effect to one SKU's stock (`None`: not known yet). Movements
/// of an SKU the catalog does not list are kept on an unlisted item.
pub fn apply_to_item(item: Option<StockItem>, e: &Effect) -> Option<StockItem> {
    let known =
        |item: Option<StockItem>, sku: &str| item.unwrap_or_else(|| StockItem::unlisted(sku));
    match e {
        Effect::Catalog { item: c, category } => {
            let mut s = match item {
                Some(mut s) => {
                    s.item = c.clone();
                    s
                }
                None => StockItem::new(c.clone()),
            };
            s.listed = true;
            if let Some(cat) = category {
                s.category = cat.clone();
            }
            Some(s)
        }
        Effect::OnHand { sku, delta, kind } => {
            let mut s = known(item, sku);
            // Decisions keep stock far inside i64 (`MAX_STOCK`); a
            // projection never panics or wraps even so.
            s.on_hand = s.on_hand.saturating_add(*delta);
            s.ledger.book(*kind, *delta);
            Some(s)
        }
        Effect::Count {
            sku,
            on_hand,
            as_of_ms,
        } => {
            let mut s = known(item, sku);
            s.ledger
                .book(Move::Corrected, on_hand.saturating_sub(s.on_hand));
            s.on_hand = *on_hand;
            s.last_count = Some(LastCount {
                as_of_ms: *as_of_ms,
                on_hand: *on_hand,
            });
            Some(s)
        }
        Effect::Reserve { delta, .. } => item.map(|mut s| {
            s.reserved = s.reserved.saturating_add(*delta).max(0);
            s
        }),
        Effect::Safety {
            scope: SafetyScope::Sku(_),
            safety,
        } => item.map(|mut s| {
            s.safety_own = *safety;
            s
        }),
        Effect::CountTask { task, .. } => item.map(|mut s| {
            s.count_task = task.clone();
            s
        }),
        Effect::Published { available, .. } => item.map(|mut s| {
            s.published = Some(*available);
            s
        }),
        _ => item,
    }
}

/// Apply a settings effect.
pub fn apply_to_site(site: Site, e: &Effect) -> Site {
    match e {
        Effect::Closed(c) => Site {
            closed: c.clone(),
            ..site
        },
        Effect::PickupTimes(p) => Site {
            pickup: Some(*p),
            ..site
        },
        Effect::Safety {
            scope: SafetyScope::Store,
            safety,
        } => Site {
            safety_default: *safety,
            ..site
        },
        Effect::Safety {
            scope: SafetyScope::Category(c),
            safety,
        } => {
            let mut site = site;
            match safety {
                Some(n) => site.safety_by_category.insert(c.clone(), *n),
                None => site.safety_by_category.remove(c),
            };
            site
        }
        _ => site,
    }
}

/// Whether `code` is a GTIN/EAN (8, 12, 13 or 14 digits) with a correct
/// check digit.
pub fn valid_gtin(code: &str) -> bool {
    protocol::gtin::is_valid(code)
}

/// Check an SKU's spelling (it ends up in keys and on labels).
pub fn check_sku(field: String, sku: &str) -> Result<(), Rejection> {
    if sku.is_empty()
        || sku.len() > 64
        || !sku
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(Rejection::Invalid {
            field,
            reason: "must be 1 to 64 letters, digits, '-', '_' or '.'".into(),
        });
    }
    Ok(())
}

/// Check one catalog item; the problem names its field.
pub fn check_item(item: &CatalogItem) -> Result<(), Rejection> {
    let invalid = |field: &str, reason: String| Rejection::Invalid {
        field: field.to_string(),
        reason,
    };
    check_sku("sku".into(), &item.sku)?;
    let name = item.name.trim();
    if name.is_empty() || name.chars().count() > 120 {
        return Err(invalid("name", "must be 1 to 120 characters".into()));
    }
    if item.barcodes.is_empty() || item.barcodes.len() > 8 {
        return Err(invalid("barcodes", "an item needs 1 to 8 barcodes".into()));
    }
    if let Some(bad) = item.barcodes.iter().find(|b| !valid_gtin(b)) {
        return Err(invalid(
            "barcodes",
            format!("{bad:?} is not a GTIN/EAN-8, -12, -13 or -14 with a correct check digit"),
        ));
    }
    if item.unit_price_cents < 0 {
        return Err(invalid("unit_price_cents", "must not be negative".into()));
    }
    Ok(())
}

/// Most items per CatalogImported event (keeps log entries small).
pub const IMPORT_CHUNK: usize = 200;

/// Import catalog items and stock counts. Every item and count must be
/// valid (the import file's per-row report is made before this); a barcode
/// may belong to only one SKU. With `categories`, each item's category is
/// set too (else categories stay as they are).
pub fn decide_import(
    ctx: &Ctx,
    items: &[CatalogItem],
    categories: Option<&[Option<String>]>,
    stock: &[SkuQuantity],
) -> Decision {
    if items.is_empty() && stock.is_empty() {
        return Err(Rejection::Invalid {
            field: "items".into(),
            reason: "nothing to import".into(),
        });
    }
    let mut seen = std::collections::HashMap::new();
    for (i, item) in items.iter().enumerate() {
        check_item(item).map_err(|r| match r {
            Rejection::Invalid { field, reason } => Rejection::Invalid {
                field: format!("items[{i}].{field}"),
                reason,
            },
            r => r,
        })?;
        for b in &item.barcodes {
            let owner = seen
                .insert(b.clone(), item.sku.clone())
                .or_else(|| ctx.view.sku_for_barcode(b));
            if let Some(owner) = owner.filter(|o| *o != item.sku) {
                return Err(Rejection::Invalid {
                    field: format!("items[{i}].barcodes"),
                    reason: format!("barcode {b} already belongs to SKU {owner}"),
                });
            }
        }
    }
    let imported: std::collections::HashSet<&str> = items.iter().map(|i| i.sku.as_str()).collect();
    for (i, q) in stock.iter().enumerate() {
        if !imported.contains(q.sku.as_str()) && ctx.view.item(&q.sku).is_none() {
            return Err(Rejection::Invalid {
                field: format!("stock[{i}].sku"),
                reason: format!("SKU {} is not in the catalog", q.sku),
            });
        }
    }
    let mut events: Vec<Event> = match categories {
        None => items
            .chunks(IMPORT_CHUNK)
            .map(|c| Event::CatalogImported { items: c.to_vec() })
            .collect(),
        Some(cats) => {
            if cats.len() != items.len() {
                return Err(Rejection::Invalid {
                    field: "items".into(),
                    reason: "one category per item".into(),
                });
            }
            if let Some(i) = cats.iter().position(|c| {
                c.as_ref()
                    .is_some_and(|c| c.trim().is_empty() || c.chars().count() > 40)
            }) {
                return Err(Rejection::Invalid {
                    field: format!("items[{i}].category"),
                    reason: "must be 1 to 40 characters (or null)".into(),
                });
            }
            let entries: Vec<CatalogEntry> = items
                .iter()
                .zip(cats)
                .map(|(item, category)| CatalogEntry {
                    item: item.clone(),
                    category: category.clone(),
                })
                .collect();
            entries
                .chunks(IMPORT_CHUNK)
                .map(|c| Event::CatalogEntriesImported { items: c.to_vec() })
                .collect()
        }
    };
    events.extend(stock.chunks(IMPORT_CHUNK).map(|c| Event::StockCounted {
        counts: c.to_vec(),
        by: "import".into(),
    }));
    Ok(events)
}

/// A cycle count of the SKUs at one location.
pub fn decide_count(ctx: &Ctx, counts: &[SkuQuantity], staff: &str) -> Decision {
    super::staff::check_staff(staff)?;
    if counts.is_empty() {
        return Err(Rejection::Invalid {
            field: "counts".into(),
            reason: "count at least one SKU".into(),
        });
    }
    if let Some(q) = counts.iter().find(|q| ctx.view.item(&q.sku).is_none()) {
        return Err(Rejection::UnknownSku(q.sku.clone()));
    }
    Ok(vec![Event::StockCounted {
        counts: counts.to_vec(),
        by: staff.to_string(),
    }])
}

/// Most units one adjustment may add or remove.
pub const MAX_ADJUST: u64 = 100_000;

/// Most units of one SKU a store may hold on its shelves, either way
/// (a count or adjustment beyond it is a typo or an attack, not stock).
pub const MAX_STOCK: i64 = 1_000_000_000_000;

/// A manual correction of on-hand stock.
pub fn decide_adjust(ctx: &Ctx, sku: &str, delta: i64, reason: &str, staff: &str) -> Decision {
    super::staff::check_staff(staff)?;
    let Some(item) = ctx.view.item(sku) else {
        return Err(Rejection::UnknownSku(sku.to_string()));
    };
    // `unsigned_abs`: `i64::MIN.abs()` overflows (and wrapped to a
    // negative number that passed the check).
    if delta == 0 || delta.unsigned_abs() > MAX_ADJUST {
        return Err(Rejection::Invalid {
            field: "delta".into(),
            reason: format!("must be a non-zero change of at most {MAX_ADJUST} either way"),
        });
    }
    match item.on_hand.checked_add(delta) {
        Some(n) if n.abs() <= MAX_STOCK => {}
        _ => {
            return Err(Rejection::Invalid {
                field: "delta".into(),
                reason: format!(
                    "would take on-hand stock of {sku} from {} past ±{MAX_STOCK}",
                    item.on_hand
                ),
            })
        }
    }
    if reason.trim().is_empty() {
        return Err(Rejection::Invalid {
            field: "reason".into(),
            reason: "say why (damaged, found, delivery …)".into(),
        });
    }
    Ok(vec![Event::StockAdjusted {
        sku: sku.to_string(),
        delta,
        reason: format!("{} (by {staff})", reason.trim()),
    }])
}

/// Open or close the store for new orders. Repeats are no-ops.
pub fn decide_set_open(ctx: &Ctx, open: bool, reason: &str, staff: &str) -> Decision {
    super::staff::check_staff(staff)?;
    let closed = ctx.view.site().closed.is_some();
    Ok(match (open, closed) {
        (true, true) => vec![Event::StoreOpened {
            by: staff.to_string(),
        }],
        (false, false) => {
            let reason = reason.trim();
            if reason.is_empty() {
                return Err(Rejection::Invalid {
                    field: "reason".into(),
                    reason: "say why the store is closed (customers' orders are refused with it)"
                        .into(),
                });
            }
            vec![Event::StoreClosed {
                reason: reason.to_string(),
                by: staff.to_string(),
            }]
        }
        _ => vec![],
    })
}

/// Shortest pickup window a store may set (a minute: tests and drills);
/// longest: 90 days.
pub const MIN_EXPIRY_S: u64 = 60;
pub const MAX_EXPIRY_S: u64 = 90 * 86_400;

/// Set the store's pickup window and reminder. The reminder comes before
/// expiry (or is 0: none). Setting what is in force already is a no-op.
pub fn decide_pickup_times(ctx: &Ctx, expiry_s: u64, reminder_s: u64) -> Decision {
    if !(MIN_EXPIRY_S..=MAX_EXPIRY_S).contains(&expiry_s) {
        return Err(Rejection::Invalid {
            field: "expiry_s".into(),
            reason: format!("must be between {MIN_EXPIRY_S} s and 90 days"),
        });
    }
    if reminder_s >= expiry_s {
        return Err(Rejection::Invalid {
            field: "reminder_s".into(),
            reason: "must be shorter than the pickup window (or 0 for no reminder)".into(),
        });
    }
    let want = PickupTimes {
        expiry_s,
        reminder_s,
    };
    if ctx.view.site().pickup == Some(want) {
        return Ok(vec![]);
    }
    Ok(vec![Event::PickupTimesChanged {
        expiry_s,
        reminder_s,
    }])
}

#[cfg(test)]
pub(crate) mod tests;
