//! `storenode demo`: a realistic store without a cloud.
//!
//! Seeds a catalog (about 300 SKUs across 12 aisles, with valid EAN-13
//! barcodes, chilled and frozen departments, age-restricted drinks) and
//! stock once, then keeps a trickle of orders coming and has two demo
//! pickers work some of them — picks, a short now and then, substitutes,
//! staging — so every screen and topic has something to show. Everything
//! goes through the same commands and writer as real traffic.
use std::time::Duration;

use protocol::{
    CatalogItem, Command, Location, NewOrder, OrderId, OrderLine, PaymentMode, Role, SkuQuantity,
    SlotKind, StagingSlot, Zone,
};
use rand::Rng;

use crate::domain::OrderState;
use crate::pin::PinHasher;
use crate::services::commands::{self, Rules};
use crate::shutdown::Shutdown;
use crate::store::{Store, WriterHandle};

/// A department: one aisle of the demo store.
struct Department {
    aisle: u16,
    name: &'static str,
    zone: Zone,
    /// Price range in cents.
    prices: (i64, i64),
    age_restricted: bool,
}

const fn dept(
    aisle: u16,
    name: &'static str,
    zone: Zone,
    prices: (i64, i64),
    age_restricted: bool,
) -> Department {
    Department {
        aisle,
        name,
        zone,
        prices,
        age_restricted,
    }
}

const DEPARTMENTS: &[Department] = &[
    dept(1, "Bakery", Zone::Ambient, (89, 449), false),
    dept(2, "Fruit & veg", Zone::Ambient, (49, 399), false),
    dept(3, "Dairy", Zone::Chilled, (59, 599), false),
    dept(4, "Meat & fish", Zone::Chilled, (199, 1899), false),
    dept(5, "Pantry", Zone::Ambient, (79, 699), false),
    dept(6, "Breakfast", Zone::Ambient, (149, 599), false),
    dept(7, "Snacks", Zone::Ambient, (99, 399), false),
    dept(8, "Drinks", Zone::Ambient, (69, 299), false),
    dept(9, "Beer & wine", Zone::Ambient, (149, 2499), true),
    dept(10, "Household", Zone::Ambient, (129, 1299), false),
    dept(11, "Frozen", Zone::Frozen, (199, 899), false),
    dept(12, "Ice cream", Zone::Frozen, (249, 799), false),
];

const CUSTOMERS: &[&str] = &[
    "Ada Lovelace",
    "Grace Hopper",
    "Alan Turing",
    "Katherine Johnson",
    "Edsger Dijkstra",
    "Barbara Liskov",
    "Ken Thompson",
    "Frances Allen",
    "Donald Knuth",
    "Radia Perlman",
];

/// An EAN-13 with its check digit, from a 12-digit body.
pub fn ean13(body: u64) -> String {
    let digits = format!("{:012}", body % 1_000_000_000_000);
    protocol::gtin::with_check_digit(&digits).unwrap_or(digits)
}

/// The demo catalog: 25 SKUs per department.
pub fn catalog() -> Vec<CatalogItem> {
    let mut out = Vec::new();
    for (d, dep) in DEPARTMENTS.iter().enumerate() {
        let (lo, hi) = dep.prices;
        for n in 0..25u16 {
            let sku = format!("D{:02}-{:03}", dep.aisle, n + 1);
            out.push(CatalogItem {
                name: format!("{} item {}", dep.name, n + 1),
                barcodes: vec![ean13(400_000_000_000 + (d as u64) * 1000 + u64::from(n))],
                location: Location {
                    aisle: dep.aisle,
                    bay: 1 + n / 5,
                    shelf: 1 + n % 5,
                },
                zone: dep.zone,
                unit_price_cents: lo + (hi - lo) * i64::from(n) / 25,
                age_restricted: dep.age_restricted,
                sku,
            });
        }
    }
    out
}

/// The demo's staff: who the demo picker is, and the PINs made this time
/// (empty when the store had staff already).
pub struct DemoStaff {
    pub picker: Option<String>,
    /// (id, name, role, PIN)
    pub new: Vec<(String, String, Role, String)>,
}

/// One picker, one desk and one manager, with generated PINs (once: a
/// store that has staff keeps them).
pub async fn seed_staff(
    writer: &WriterHandle,
    store: &Store,
    rules: &Rules,
    pins: &PinHasher,
) -> DemoStaff {
    let mut new = Vec::new();
    if store.staff_list().is_empty() {
        for (name, role) in [
            ("Maria Manager", Role::Manager),
            ("Dev Desk", Role::Desk),
            ("Pat Picker", Role::Picker),
        ] {
            let id = crate::services::staff::next_id(store);
            let Ok((pin, pin_hash)) = crate::services::staff::pin_and_hash(pins, None).await else {
                continue;
            };
            let command = Command::AddStaff {
                staff_id: id.clone(),
                name: name.to_string(),
                role,
                pin_hash,
            };
            match send(writer, store, rules, command).await {
                Ok(()) => new.push((id, name.to_string(), role, pin)),
                Err(e) => tracing::warn!(error = %e, "demo staff not seeded"),
            }
        }
    }
    let picker = store
        .staff_list()
        .into_iter()
        .find(|m| m.enabled && m.role == Role::Picker)
        .map(|m| m.id);
    DemoStaff { picker, new }
}

/// Print the demo staff's logins.
pub fn announce_staff(staff: &DemoStaff) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if staff.new.is_empty() {
        let _ = writeln!(
            out,
            "demo staff: as created before (a new PIN: storenode staff pin ID, node stopped)"
        );
    } else {
        let _ = writeln!(out, "demo staff (PINs shown once):");
        for (id, name, role, pin) in &staff.new {
            let _ = writeln!(out, "  {:<8} {id:<6} PIN {pin}   {name}", role.name());
        }
    }
    let _ = out.flush();
}

/// Seed the catalog (once) and run the trickle until shutdown.
pub async fn run(
    writer: WriterHandle,
    store: Store,
    rules: Rules,
    staff: DemoStaff,
    mut shutdown: Shutdown,
) {
    let picker = staff.picker.map(|id| commands::Principal::Staff {
        id,
        role: Role::Picker,
    });
    if store.stock_items().is_empty() {
        let items = catalog();
        let stock = items
            .iter()
            .enumerate()
            .map(|(i, it)| SkuQuantity {
                sku: it.sku.clone(),
                // A few SKUs are nearly out, so shorts and rejections happen.
                quantity: if i % 17 == 0 { 1 } else { 20 + (i as u32 % 30) },
            })
            .collect();
        let n = items.len();
        match send(
            &writer,
            &store,
            &rules,
            Command::ImportCatalog { items, stock },
        )
        .await
        {
            Ok(()) => tracing::info!(skus = n, "demo catalog seeded"),
            Err(e) => tracing::warn!(error = %e, "demo catalog not seeded"),
        }
    }
    let skus: Vec<String> = catalog().into_iter().map(|i| i.sku).collect();
    let mut tick = tokio::time::interval(Duration::from_secs(4));
    let mut n: u64 = store.head();
    loop {
        tokio::select! {
            _ = shutdown.fired() => return,
            _ = tick.tick() => {}
        }
        n += 1;
        let order = {
            let mut rng = rand::thread_rng();
            let lines = (0..rng.gen_range(1..=6))
                .map(|_| OrderLine {
                    sku: skus[rng.gen_range(0..skus.len())].clone(),
                    quantity: rng.gen_range(1..=3),
                    unit_price_cents: rng.gen_range(99..=999),
                    substitution_allowed: rng.gen_bool(0.6),
                })
                .collect();
            NewOrder {
                customer_name: CUSTOMERS[rng.gen_range(0..CUSTOMERS.len())].to_string(),
                lines,
                due_at_ms: Some(crate::store::now_ms() + rng.gen_range(15..=90) * 60_000),
                payment: if rng.gen_bool(0.3) {
                    PaymentMode::PayAtPickup
                } else {
                    PaymentMode::Prepaid
                },
                pickup_token: None,
            }
        };
        let Ok(order_id) = OrderId::new(format!("DEMO-{n:05}")) else {
            continue;
        };
        let _ = send(
            &writer,
            &store,
            &rules,
            Command::CreateOrder { order_id, order },
        )
        .await;
        // The demo picker works one ready-to-pick order of every three
        // ticks, leaving the rest for people trying the pick pages.
        if let (0, Some(p)) = (n % 3, &picker) {
            work_one(&writer, &store, &rules, p).await;
        }
        // Walk-in customers at the till, now and then a return.
        let receipt = {
            let mut rng = rand::thread_rng();
            let ret = rng.gen_bool(0.1);
            protocol::Receipt {
                receipt_id: format!("DEMO-T-{n:05}"),
                till: "till-1".into(),
                at_ms: crate::store::now_ms(),
                kind: if ret {
                    protocol::ReceiptKind::Return
                } else {
                    protocol::ReceiptKind::Sale
                },
                voids: None,
                lines: (0..rng.gen_range(1..=3))
                    .map(|_| protocol::ReceiptLine {
                        sku: skus[rng.gen_range(0..skus.len())].clone(),
                        quantity: rng.gen_range(1..=2),
                        damaged: ret && rng.gen_bool(0.3),
                    })
                    .collect(),
            }
        };
        let _ = send(&writer, &store, &rules, Command::RecordReceipt { receipt }).await;
        // A delivery every minute or so tops up what runs low.
        if n % 15 == 0 {
            let mut low = store.stock_items();
            low.retain(|i| i.listed);
            low.sort_by_key(|i| i.available());
            let lines: Vec<SkuQuantity> = low
                .iter()
                .take(10)
                .map(|i| SkuQuantity {
                    sku: i.item.sku.clone(),
                    quantity: 24,
                })
                .collect();
            if !lines.is_empty() {
                let _ = send(
                    &writer,
                    &store,
                    &rules,
                    Command::ReceiveDelivery {
                        delivery_id: None,
                        lines,
                    },
                )
                .await;
            }
        }
    }
}

/// The demo picker works the oldest order that is ready to pick.
async fn work_one(
    writer: &WriterHandle,
    store: &Store,
    rules: &Rules,
    picker: &commands::Principal,
) {
    let Ok(orders) = store.orders_in_state(OrderState::Prepared, None, 1) else {
        return;
    };
    let Some(o) = orders.into_iter().next() else {
        return;
    };
    let staff = String::new();
    for line in &o.pick_lines {
        let Some(item) = store.item(&line.sku) else {
            continue;
        };
        let roll: u32 = rand::thread_rng().gen_range(0..10);
        let command = if roll == 0 {
            // Mostly not found; now and then damaged (one unit bad).
            let damaged = rand::thread_rng().gen_bool(0.3);
            Command::ShortItemWithWriteOff {
                order_id: o.id.clone(),
                line_no: line.line_no,
                found: 0,
                reason: if damaged {
                    protocol::ShortReason::Damaged
                } else {
                    protocol::ShortReason::NotFound
                },
                written_off: u32::from(damaged),
            }
        } else {
            Command::PickItem {
                order_id: o.id.clone(),
                line_no: line.line_no,
                barcode: item.item.barcodes[0].clone(),
                quantity: line.quantity,
                staff: staff.clone(),
            }
        };
        let _ = send_as(writer, store, rules, command, picker).await;
    }
    let zone = o
        .pick_lines
        .iter()
        .map(|l| l.zone)
        .max()
        .unwrap_or(Zone::Ambient);
    let kind = match zone {
        Zone::Frozen => SlotKind::Freezer,
        Zone::Chilled => SlotKind::ColdStorage,
        Zone::Ambient => SlotKind::Shelf,
    };
    let slot = StagingSlot {
        kind,
        id: format!("{}", 1 + o.created_log_seq % 20),
    };
    let _ = send_as(
        writer,
        store,
        rules,
        Command::Stage {
            order_id: o.id.clone(),
            slot,
            staff,
        },
        picker,
    )
    .await;
}

async fn send(
    writer: &WriterHandle,
    store: &Store,
    rules: &Rules,
    command: Command,
) -> Result<(), String> {
    send_as(writer, store, rules, command, &commands::Principal::Cli).await
}

async fn send_as(
    writer: &WriterHandle,
    store: &Store,
    rules: &Rules,
    command: Command,
    principal: &commands::Principal,
) -> Result<(), String> {
    let req =
        commands::prepare(command, principal, None, rules, store).map_err(|e| e.to_string())?;
    match writer.write(req).await {
        Ok(crate::store::Written::Rejected { rejection, .. }) => Err(rejection.to_string()),
        Ok(_) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::inventory::{check_item, valid_gtin};

    #[test]
    fn demo_catalog_is_valid_and_unique() {
        let items = catalog();
        assert_eq!(items.len(), 300);
        for i in &items {
            check_item(i).expect("valid item");
            assert!(valid_gtin(&i.barcodes[0]));
        }
        let mut codes: Vec<&String> = items.iter().flat_map(|i| &i.barcodes).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), 300);
    }
}
