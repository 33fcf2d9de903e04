//! Catalog and stock import files (CSV or JSON) → catalog items and stock
//! counts, with a per-row report of the rows that cannot be used.
//!
//! One row per SKU. CSV has a header row naming the columns:
//!
//! ```text
//! sku,name,barcodes,aisle,bay,shelf,zone,unit_price_cents,age_restricted,on_hand
//! MILK-1L,Whole milk 1 L,4006381333931,4,2,1,chilled,129,false,40
//! ```
//!
//! `barcodes` holds one or more GTIN/EAN codes separated by `|`;
//! `age_restricted` and `on_hand` may be left empty (false; stock left as
//! it is). An optional `category` column (or key) names the item's
//! category, for safety stock by category; a file without it leaves the
//! categories as they are. JSON is an array of objects with the same keys
//! (`barcodes` an array of strings).
use protocol::{CatalogItem, Location, SkuQuantity, Zone};
use serde::{Deserialize, Serialize};

use crate::domain::inventory::check_item;
use crate::domain::Rejection;

/// Most rows in one import.
pub const MAX_ROWS: usize = 50_000;

/// A row that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// 1-based data row (the CSV header is row 0).
    pub row: usize,
    pub sku: Option<String>,
    pub field: String,
    pub reason: String,
}

/// What a file holds: the usable rows and the report of the others.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub items: Vec<CatalogItem>,
    /// Each item's category (parallel to `items`).
    pub categories: Vec<Option<String>>,
    /// The file names categories (a CSV column, a JSON key): the import
    /// sets them, empty ones cleared; otherwise they are left as they are.
    pub has_categories: bool,
    /// The file row of each item.
    pub rows: Vec<usize>,
    pub stock: Vec<SkuQuantity>,
    pub errors: Vec<RowError>,
}

impl Parsed {
    /// Move to the report the rows whose barcodes already belong to another
    /// SKU in the store's catalog (`owner` of a barcode), so the rest can
    /// still be imported.
    pub fn drop_clashes(&mut self, owner: impl Fn(&str) -> Option<String>) {
        let mut keep = vec![true; self.items.len()];
        for (i, item) in self.items.iter().enumerate() {
            let clash = item.barcodes.iter().find_map(|b| {
                owner(b)
                    .filter(|sku| *sku != item.sku)
                    .map(|sku| format!("barcode {b} already belongs to SKU {sku} in the catalog"))
            });
            if let Some(reason) = clash {
                keep[i] = false;
                self.errors.push(RowError {
                    row: self.rows[i],
                    sku: Some(item.sku.clone()),
                    field: "barcodes".into(),
                    reason,
                });
            }
        }
        let dropped: Vec<String> = self
            .items
            .iter()
            .zip(&keep)
            .filter(|(_, k)| !**k)
            .map(|(i, _)| i.sku.clone())
            .collect();
        let mut k = keep.iter();
        self.items.retain(|_| *k.next().unwrap_or(&true));
        let mut k = keep.iter();
        self.categories.retain(|_| *k.next().unwrap_or(&true));
        let mut k = keep.iter();
        self.rows.retain(|_| *k.next().unwrap_or(&true));
        self.stock.retain(|q| !dropped.contains(&q.sku));
        self.errors.sort_by_key(|e| e.row);
    }
}

/// Why a whole file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("the file is not valid {format}: {reason}")]
    Unreadable {
        format: &'static str,
        reason: String,
    },
    #[error("the CSV header lacks column `{0}`")]
    MissingColumn(&'static str),
    #[error("the file has {0} rows; at most 50000 are allowed")]
    TooManyRows(usize),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRow {
    sku: String,
    name: String,
    barcodes: Vec<String>,
    aisle: u16,
    bay: u16,
    shelf: u16,
    zone: Zone,
    unit_price_cents: i64,
    #[serde(default)]
    age_restricted: bool,
    #[serde(default)]
    on_hand: Option<u32>,
    #[serde(default)]
    category: Option<String>,
}

/// The category of a row: `None` for an empty one; `Err` for one too long.
fn category(text: Option<&str>) -> Result<Option<String>, String> {
    match text.map(str::trim) {
        None | Some("") => Ok(None),
        Some(c) if c.chars().count() > 40 => Err("must be at most 40 characters".into()),
        Some(c) => Ok(Some(c.to_string())),
    }
}

const COLUMNS: [&str; 8] = [
    "sku",
    "name",
    "barcodes",
    "aisle",
    "bay",
    "shelf",
    "zone",
    "unit_price_cents",
];

/// Parse a CSV import file.
pub fn parse_csv(text: &str) -> Result<Parsed, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| ImportError::Unreadable {
            format: "CSV",
            reason: e.to_string(),
        })?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let col = |name: &'static str| header.iter().position(|h| h == name);
    let mut idx = Vec::new();
    for c in COLUMNS {
        idx.push(col(c).ok_or(ImportError::MissingColumn(c))?);
    }
    let (age_col, stock_col, cat_col) = (col("age_restricted"), col("on_hand"), col("category"));
    let mut out = Parsed {
        has_categories: cat_col.is_some(),
        ..Parsed::default()
    };
    let mut seen = Seen::default();
    let mut rows = 0;
    for (i, record) in reader.records().enumerate() {
        let row = i + 1;
        rows += 1;
        if rows > MAX_ROWS {
            return Err(ImportError::TooManyRows(rows));
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                out.errors.push(RowError {
                    row,
                    sku: None,
                    field: "(row)".into(),
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let get = |j: usize| record.get(j).unwrap_or("");
        let sku = get(idx[0]).to_string();
        let fail = |out: &mut Parsed, field: &str, reason: String| {
            out.errors.push(RowError {
                row,
                sku: Some(sku.clone()).filter(|s| !s.is_empty()),
                field: field.to_string(),
                reason,
            })
        };
        let number = |field: &'static str, j: usize| -> Result<u16, (String, String)> {
            get(j).parse::<u16>().map_err(|_| {
                (
                    field.to_string(),
                    format!("{:?} is not a whole number from 0 to 65535", get(j)),
                )
            })
        };
        let location = match (
            number("aisle", idx[3]),
            number("bay", idx[4]),
            number("shelf", idx[5]),
        ) {
            (Ok(aisle), Ok(bay), Ok(shelf)) => Location { aisle, bay, shelf },
            (Err((f, r)), _, _) | (_, Err((f, r)), _) | (_, _, Err((f, r))) => {
                fail(&mut out, &f, r);
                continue;
            }
        };
        let zone = match get(idx[6]).to_ascii_lowercase().as_str() {
            "ambient" => Zone::Ambient,
            "chilled" => Zone::Chilled,
            "frozen" => Zone::Frozen,
            other => {
                fail(
                    &mut out,
                    "zone",
                    format!("{other:?} is not ambient, chilled or frozen"),
                );
                continue;
            }
        };
        let Ok(price) = get(idx[7]).parse::<i64>() else {
            fail(
                &mut out,
                "unit_price_cents",
                format!("{:?} is not a whole number of cents", get(idx[7])),
            );
            continue;
        };
        let age = match age_col.map(get).unwrap_or("").to_ascii_lowercase().as_str() {
            "" | "false" | "no" | "0" => false,
            "true" | "yes" | "1" => true,
            other => {
                fail(
                    &mut out,
                    "age_restricted",
                    format!("{other:?} is not true or false"),
                );
                continue;
            }
        };
        let on_hand = match stock_col.map(get).unwrap_or("") {
            "" => None,
            n => match n.parse::<u32>() {
                Ok(n) => Some(n),
                Err(_) => {
                    fail(
                        &mut out,
                        "on_hand",
                        format!("{n:?} is not a whole number of units"),
                    );
                    continue;
                }
            },
        };
        let cat = match category(cat_col.map(get)) {
            Ok(c) => c,
            Err(r) => {
                fail(&mut out, "category", r);
                continue;
            }
        };
        let item = CatalogItem {
            sku: sku.clone(),
            name: get(idx[1]).to_string(),
            barcodes: get(idx[2])
                .split('|')
                .map(str::trim)
                .filter(|b| !b.is_empty())
                .map(str::to_string)
                .collect(),
            location,
            zone,
            unit_price_cents: price,
            age_restricted: age,
        };
        accept(&mut out, &mut seen, row, item, on_hand, cat);
    }
    Ok(out)
}

/// Parse a JSON import file (an array of rows).
pub fn parse_json(text: &str) -> Result<Parsed, ImportError> {
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(text).map_err(|e| ImportError::Unreadable {
            format: "JSON",
            reason: e.to_string(),
        })?;
    if rows.len() > MAX_ROWS {
        return Err(ImportError::TooManyRows(rows.len()));
    }
    let mut out = Parsed::default();
    let mut seen = Seen::default();
    for (i, value) in rows.into_iter().enumerate() {
        let row = i + 1;
        let sku = value
            .get("sku")
            .and_then(|s| s.as_str())
            .map(str::to_string);
        let r: JsonRow = match serde_path_to_error::deserialize(value) {
            Ok(r) => r,
            Err(e) => {
                let field = e.path().to_string();
                out.errors.push(RowError {
                    row,
                    sku,
                    field: if field == "." { "(row)".into() } else { field },
                    reason: e.into_inner().to_string(),
                });
                continue;
            }
        };
        let item = CatalogItem {
            sku: r.sku,
            name: r.name,
            barcodes: r.barcodes,
            location: Location {
                aisle: r.aisle,
                bay: r.bay,
                shelf: r.shelf,
            },
            zone: r.zone,
            unit_price_cents: r.unit_price_cents,
            age_restricted: r.age_restricted,
        };
        if r.category.is_some() {
            out.has_categories = true;
        }
        let cat = match category(r.category.as_deref()) {
            Ok(c) => c,
            Err(reason) => {
                out.errors.push(RowError {
                    row,
                    sku: Some(item.sku.clone()),
                    field: "category".into(),
                    reason,
                });
                continue;
            }
        };
        accept(&mut out, &mut seen, row, item, r.on_hand, cat);
    }
    Ok(out)
}

/// SKUs and barcodes of the rows kept so far (hash lookups: an import of
/// 50,000 rows must not compare every row with every earlier one).
#[derive(Default)]
struct Seen {
    skus: std::collections::HashSet<String>,
    barcodes: std::collections::HashMap<String, String>,
}

/// Keep a row if it is valid and does not clash with an earlier row.
fn accept(
    out: &mut Parsed,
    seen: &mut Seen,
    row: usize,
    item: CatalogItem,
    on_hand: Option<u32>,
    category: Option<String>,
) {
    let problem = check_item(&item).err().map(|r| match r {
        Rejection::Invalid { field, reason } => (field, reason),
        r => ("(row)".to_string(), r.to_string()),
    });
    let clash = || {
        if seen.skus.contains(&item.sku) {
            return Some((
                "sku".to_string(),
                format!("SKU {} appears on an earlier row", item.sku),
            ));
        }
        item.barcodes.iter().find_map(|b| {
            seen.barcodes.get(b).map(|sku| {
                (
                    "barcodes".to_string(),
                    format!("barcode {b} is already SKU {sku}'s"),
                )
            })
        })
    };
    if let Some((field, reason)) = problem.or_else(clash) {
        out.errors.push(RowError {
            row,
            sku: Some(item.sku).filter(|s| !s.is_empty()),
            field,
            reason,
        });
        return;
    }
    if let Some(n) = on_hand {
        out.stock.push(SkuQuantity {
            sku: item.sku.clone(),
            quantity: n,
        });
    }
    seen.skus.insert(item.sku.clone());
    out.categories.push(category);
    for b in &item.barcodes {
        seen.barcodes.insert(b.clone(), item.sku.clone());
    }
    out.items.push(item);
    out.rows.push(row);
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, ..Default::default() })]

        /// Fuzzing with proptest (stable CI; `fuzz/` has the cargo-fuzz
        /// targets for longer runs): any text is a report, never a panic.
        #[test]
        fn any_import_text_is_refused_or_read_never_a_panic(
            text in proptest::string::string_regex("(?s).{0,600}").expect("regex"),
            header in proptest::sample::select(vec![
                "",
                "sku,name,barcodes,aisle,bay,shelf,zone,unit_price_cents,age_restricted,on_hand\n",
                "sku,on_hand\n",
            ]),
        ) {
            let text = format!("{header}{text}");
            let _ = parse_csv(&text);
            let _ = parse_json(&text);
        }

        /// Rows made of the right kind of parts, in any mix: each row is
        /// an item or a reported error.
        #[test]
        fn plausible_csv_rows_are_items_or_reported(
            rows in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::sample::select(vec![
                        "MILK-1L", "", "4006381333931", "73513537|036000291452", "x", "-1",
                        "4", "chilled", "frozen", "warm", "true", "false", "99999999999",
                        "1e9", "\"a,b\"", "0",
                    ]),
                    0..12,
                ),
                0..20,
            ),
        ) {
            let mut text = String::from("sku,name,barcodes,aisle,bay,shelf,zone,unit_price_cents,age_restricted,on_hand\n");
            for r in &rows {
                text.push_str(&r.join(","));
                text.push('\n');
            }
            if let Ok(p) = parse_csv(&text) {
                // Every item was checked, every error names a real row.
                proptest::prop_assert!(p.items.iter().all(|i| !i.sku.is_empty()));
                proptest::prop_assert!(p.items.len() <= rows.len());
                proptest::prop_assert!(p.errors.iter().all(|e| e.row >= 1 && e.row <= rows.len() + 1));
            }
        }
    }

    #[test]
    fn csv_rows_with_a_report_of_the_bad_ones() {
        let text = "\
sku,name,barcodes,aisle,bay,shelf,zone,unit_price_cents,age_restricted,on_hand
MILK-1L,Whole milk 1 L,4006381333931,4,2,1,chilled,129,false,40
BEER-6,Lager 6-pack,73513537|036000291452,9,1,2,ambient,899,true,
BAD-EAN,Thing,4006381333932,1,1,1,ambient,100,,5
NO-ZONE,Thing,10036000291459,1,1,1,warm,100,,5
DUP,Dup barcode,4006381333931,1,1,1,ambient,100,,5
,No sku,96385074,1,1,1,ambient,100,,5
AISLE,Thing,12345670,x,1,1,ambient,100,,5
";
        let p = parse_csv(text).expect("readable");
        let skus: Vec<&str> = p.items.iter().map(|i| i.sku.as_str()).collect();
        assert_eq!(skus, vec!["MILK-1L", "BEER-6"]);
        assert!(p.items[1].age_restricted);
        assert_eq!(p.items[1].barcodes.len(), 2);
        assert_eq!(
            p.stock,
            vec![SkuQuantity {
                sku: "MILK-1L".into(),
                quantity: 40
            }]
        );
        let report: Vec<(usize, &str)> =
            p.errors.iter().map(|e| (e.row, e.field.as_str())).collect();
        assert_eq!(
            report,
            vec![
                (3, "barcodes"),
                (4, "zone"),
                (5, "barcodes"),
                (6, "sku"),
                (7, "aisle")
            ]
        );
        assert_eq!(
            parse_csv("sku,name\nA,B\n"),
            Err(ImportError::MissingColumn("barcodes"))
        );
        // A barcode the catalog already gives another SKU: that row moves to
        // the report with its file row, and its stock count goes with it.
        let mut p = parse_csv(text).expect("readable");
        p.drop_clashes(|b| (b == "4006381333931").then(|| "OTHER".to_string()));
        let skus: Vec<&str> = p.items.iter().map(|i| i.sku.as_str()).collect();
        assert_eq!(skus, vec!["BEER-6"]);
        assert_eq!(p.rows, vec![2]);
        assert!(p.stock.is_empty());
        assert_eq!(
            (p.errors[0].row, p.errors[0].field.as_str()),
            (1, "barcodes")
        );
    }

    #[test]
    fn json_rows() {
        let text = r#"[
            {"sku":"A","name":"Apple","barcodes":["4006381333931"],"aisle":1,"bay":1,"shelf":1,"zone":"ambient","unit_price_cents":50,"on_hand":3},
            {"sku":"B","name":"Pear","barcodes":["4006381333931"],"aisle":1,"bay":1,"shelf":1,"zone":"ambient","unit_price_cents":50},
            {"sku":"C","name":"Plum","barcodes":["73513537"],"aisle":1,"bay":1,"shelf":1,"zone":"cold","unit_price_cents":50}
        ]"#;
        let p = parse_json(text).expect("readable");
        assert_eq!(p.items.len(), 1);
        assert_eq!(p.stock.len(), 1);
        let report: Vec<(usize, &str)> =
            p.errors.iter().map(|e| (e.row, e.field.as_str())).collect();
        assert_eq!(report, vec![(2, "barcodes"), (3, "zone")]);
        assert!(matches!(
            parse_json("{"),
            Err(ImportError::Unreadable { .. })
        ));
    }
}
