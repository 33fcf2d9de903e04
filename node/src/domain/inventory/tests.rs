use super::*;
use crate::domain::testing::Shelf;
use protocol::{Location, Zone};

pub(crate) fn item(sku: &str, barcode: &str) -> CatalogItem {
    CatalogItem {
        sku: sku.into(),
        name: "Milk".into(),
        barcodes: vec![barcode.into()],
        location: Location {
            aisle: 1,
            bay: 1,
            shelf: 1,
        },
        zone: Zone::Chilled,
        unit_price_cents: 100,
        age_restricted: false,
    }
}

#[test]
fn import_rules() {
    let shelf = Shelf::default().with("OLD", "73513537", 1, Zone::Ambient, 1);
    let ctx = Ctx {
        order: None,
        view: &shelf,
        now_ms: 0,
    };
    let q = |sku: &str, n| SkuQuantity {
        sku: sku.into(),
        quantity: n,
    };
    let got = decide_import(
        &ctx,
        &[item("A", "4006381333931")],
        None,
        &[q("A", 5), q("OLD", 2)],
    )
    .expect("ok");
    assert_eq!(got.len(), 2);
    // With categories: the form that carries them.
    let got = decide_import(
        &ctx,
        &[item("A", "4006381333931")],
        Some(&[Some("dairy".into())]),
        &[],
    )
    .expect("ok");
    assert!(matches!(&got[..], [Event::CatalogEntriesImported { .. }]));
    let e = decide_import(
        &ctx,
        &[item("A", "4006381333931")],
        Some(&[Some(" ".into())]),
        &[],
    );
    assert!(matches!(e, Err(Rejection::Invalid { field, .. }) if field == "items[0].category"));
    let rows: Vec<(Vec<CatalogItem>, Vec<SkuQuantity>, &str)> = vec![
        (
            vec![item("A", "4006381333932")],
            vec![],
            "items[0].barcodes",
        ),
        (vec![item("a b", "4006381333931")], vec![], "items[0].sku"),
        (vec![item("A", "73513537")], vec![], "items[0].barcodes"), // OLD's barcode
        (
            vec![item("A", "4006381333931"), item("B", "4006381333931")],
            vec![],
            "items[1].barcodes",
        ),
        (vec![], vec![q("NOPE", 1)], "stock[0].sku"),
        (vec![], vec![], "items"),
    ];
    for (items, stock, field) in rows {
        match decide_import(&ctx, &items, None, &stock) {
            Err(Rejection::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
}

#[test]
fn open_close_and_adjust() {
    let shelf = Shelf::default().with("A", "73513537", 1, Zone::Ambient, 1);
    let ctx = Ctx {
        order: None,
        view: &shelf,
        now_ms: 0,
    };
    assert_eq!(decide_set_open(&ctx, true, "", "m"), Ok(vec![]));
    assert!(decide_set_open(&ctx, false, " ", "m").is_err());
    assert_eq!(
        decide_set_open(&ctx, false, "flood", "m").map(|e| e.len()),
        Ok(1)
    );
    assert_eq!(
        decide_adjust(&ctx, "Z", 1, "found", "m"),
        Err(Rejection::UnknownSku("Z".into()))
    );
    assert!(decide_adjust(&ctx, "A", 0, "found", "m").is_err());
    assert_eq!(
        decide_adjust(&ctx, "A", -1, "damaged", "m").map(|e| e.len()),
        Ok(1)
    );
    assert_eq!(
        decide_count(
            &ctx,
            &[SkuQuantity {
                sku: "Z".into(),
                quantity: 1
            }],
            "m"
        ),
        Err(Rejection::UnknownSku("Z".into()))
    );
}
