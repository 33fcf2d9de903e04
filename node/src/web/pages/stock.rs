//! Stock: look an item up by name, barcode or SKU; count and adjust it
//! (managers).
use crate::domain::permissions::Routes;
use axum::extract::{Query, State};
use axum::response::Response;
use maud::html;
use protocol::{Command, SkuQuantity};
use serde::Deserialize;

use super::{
    csrf, layout, location, urlencode, zone_badge, Done, Live, PageError, PageForm, Staff,
};
use crate::domain::StockItem;
use crate::web::AppState;

/// Most items a lookup lists.
const MAX_HITS: usize = 50;

/// Items matching `q`: the SKU or a barcode exactly, else the name or SKU
/// containing it (any letter case).
pub fn lookup(store: &crate::store::Store, q: &str) -> Vec<StockItem> {
    let q = q.trim();
    if q.is_empty() {
        return vec![];
    }
    if let Some(i) = store.item(q) {
        return vec![i];
    }
    if let Some(i) = store.sku_for_barcode(q).and_then(|sku| store.item(&sku)) {
        return vec![i];
    }
    let needle = q.to_lowercase();
    store
        .stock_items()
        .into_iter()
        .filter(|i| {
            i.item.name.to_lowercase().contains(&needle)
                || i.item.sku.to_lowercase().contains(&needle)
        })
        .take(MAX_HITS)
        .collect()
}

#[derive(Debug, Deserialize, Default)]
pub struct StockQuery {
    #[serde(default)]
    q: Option<String>,
}

/// `GET /stock?q=…`
pub async fn page(
    State(s): State<AppState>,
    staff: Staff,
    q: Result<Query<StockQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    let m = &s.messages;
    let query: String = q
        .ok()
        .and_then(|q| q.0.q)
        .unwrap_or_default()
        .chars()
        .take(100)
        .collect();
    let hits = lookup(&s.store, &query);
    let manager = staff.may_open(Routes::StockChangePages);
    let body = html! {
        h1 { (m.t("stock.title")) }
        form method="get" action="/stock" role="search" class="search" {
            label for="q" { (m.t("stock.search_label")) }
            div class="row" {
                input id="q" name="q" type="search" autocomplete="off" spellcheck="false" autofocus value=(query) maxlength="100";
                button type="submit" class="primary" { (m.t("stock.search")) }
            }
        }
        @if !query.trim().is_empty() && hits.is_empty() {
            p class="result bad" role="alert" { (m.f("stock.nothing", &[("q", &query.trim())])) }
        }
        ul class="cards" {
            @for i in &hits {
                li class="card stock-item" id={"sku-" (i.item.sku)} {
                    div class="row" { strong { (i.item.name) } span class="muted" { (i.item.sku) } (zone_badge(m, i.item.zone)) }
                    div class="row" { (location(m, &i.item.location)) }
                    div class="row small muted" { (i.item.barcodes.join(", ")) }
                    dl class="figures" {
                        div { dt { (m.t("stock.on_hand")) } dd { (i.on_hand) } }
                        div { dt { (m.t("stock.reserved")) } dd { (i.reserved) } }
                        div { dt { (m.t("stock.safety")) } dd { (i.safety) } }
                        div { dt { (m.t("stock.available")) } dd class={@if i.available() <= 0 {"bad-text"}} { (i.available()) } }
                    }
                    @if i.short_for_orders() {
                        p class="small bad-text" { (m.t("stock.short_for_orders")) }
                    }
                    @if let Some(t) = &i.count_task {
                        p class="small" { a href={"/counts#task-" (t)} { (m.t("stock.count_open")) } }
                    }
                    @if manager {
                        div class="actions" {
                            @if i.count_task.is_none() {
                                form method="post" action="/stock/count-task" {
                                    (csrf(&staff))
                                    input type="hidden" name="sku" value=(i.item.sku);
                                    input type="hidden" name="q" value=(query);
                                    button type="submit" { (m.t("stock.ask_count")) }
                                }
                            }
                            details class="panel" {
                                summary class="button" { (m.t("stock.count")) }
                                form method="post" action="/stock/count" class="stack" {
                                    (csrf(&staff))
                                    input type="hidden" name="sku" value=(i.item.sku);
                                    input type="hidden" name="q" value=(query);
                                    label for={"count-" (i.item.sku)} { (m.t("stock.counted")) }
                                    input id={"count-" (i.item.sku)} name="quantity" type="number" inputmode="numeric" min="0" max="1000000" required;
                                    button type="submit" class="primary" { (m.t("stock.count_submit")) }
                                }
                            }
                            details class="panel" {
                                summary class="button" { (m.t("stock.adjust")) }
                                form method="post" action="/stock/adjust" class="stack" {
                                    (csrf(&staff))
                                    input type="hidden" name="sku" value=(i.item.sku);
                                    input type="hidden" name="q" value=(query);
                                    label for={"delta-" (i.item.sku)} { (m.t("stock.delta")) }
                                    input id={"delta-" (i.item.sku)} name="delta" type="number" inputmode="numeric" min="-100000" max="100000" required;
                                    label for={"reason-" (i.item.sku)} { (m.t("stock.reason")) }
                                    input id={"reason-" (i.item.sku)} name="reason" type="text" required maxlength="200";
                                    button type="submit" class="primary" { (m.t("stock.adjust_submit")) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout(
        &s,
        &staff,
        m.t("stock.title"),
        "/stock",
        Live::default(),
        body,
    ))
}

fn back(q: &str) -> String {
    format!("/stock?q={}", urlencode(q.trim()))
}

#[derive(Debug, Deserialize)]
pub struct CountForm {
    sku: String,
    quantity: u32,
    #[serde(default)]
    q: String,
}

/// `POST /stock/count` (managers): on-hand becomes the count.
pub async fn count(
    State(s): State<AppState>,
    f: PageForm<CountForm>,
) -> Result<Response, PageError> {
    f.staff.require(&s, Routes::StockChangePages)?;
    let m = &s.messages;
    let command = Command::CountStock {
        counts: vec![SkuQuantity {
            sku: f.form.sku.clone(),
            quantity: f.form.quantity,
        }],
        staff: String::new(),
    };
    let done = match super::run(&s, &f.staff, command).await {
        Ok(_) => Done {
            ok: true,
            message: m.f(
                "stock.counted_done",
                &[("sku", &f.form.sku), ("n", &f.form.quantity)],
            ),
            go: back(&f.form.q),
            regions: vec![],
        },
        Err(text) => Done {
            ok: false,
            message: text,
            go: back(&f.form.q),
            regions: vec![],
        },
    };
    Ok(done.respond(&s, &f.staff, f.fetch))
}

#[derive(Debug, Deserialize)]
pub struct AdjustForm {
    sku: String,
    delta: i64,
    reason: String,
    #[serde(default)]
    q: String,
}

/// `POST /stock/adjust` (managers): correct on-hand by a delta.
pub async fn adjust(
    State(s): State<AppState>,
    f: PageForm<AdjustForm>,
) -> Result<Response, PageError> {
    f.staff.require(&s, Routes::StockChangePages)?;
    let m = &s.messages;
    let command = Command::AdjustStock {
        sku: f.form.sku.clone(),
        delta: f.form.delta,
        reason: f.form.reason.trim().to_string(),
        staff: String::new(),
    };
    let done = match super::run(&s, &f.staff, command).await {
        Ok(_) => Done {
            ok: true,
            message: m.f(
                "stock.adjusted_done",
                &[
                    ("sku", &f.form.sku),
                    ("delta", &format!("{:+}", f.form.delta)),
                ],
            ),
            go: back(&f.form.q),
            regions: vec![],
        },
        Err(text) => Done {
            ok: false,
            message: text,
            go: back(&f.form.q),
            regions: vec![],
        },
    };
    Ok(done.respond(&s, &f.staff, f.fetch))
}
