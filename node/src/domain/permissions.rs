//! Who may do what: the one permission table.
//!
//! Every door asks here — the staff pages and the JSON API (which route
//! groups a caller may open), and `services::commands::prepare` (which
//! commands a principal may send, from any door: pages, API, device
//! topics, the cloud link, the command line). docs/security.md's table is
//! rendered from this data ([`markdown`]) and a test keeps it current.
//!
//! A new principal or command is one new line here: both `match`es below
//! are exhaustive, so the compiler names every place that must decide.
//!
//! Other rules narrow a "yes" further where they need the store's state
//! (a locker only for its own compartments, a kiosk's order paid at the
//! desk: `services::commands`); nothing widens a "no".
use protocol::{Command, DeviceKind, Role};

/// Who is asking, as far as permissions go: the authenticated party
/// (`services::commands::Principal`) without its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Who {
    /// A staff member logged in on the pages or the API, by role.
    Staff(Role),
    /// A device on the store broker (a till also over HTTP), by kind.
    Device(DeviceKind),
    /// A caller with the store's API token.
    Api,
    /// The chain's cloud (HQ), over the cloud link.
    Cloud,
    /// The `storenode` command line.
    Cli,
}

const PICKER: Who = Who::Staff(Role::Picker);
const DESK: Who = Who::Staff(Role::Desk);
const MANAGER: Who = Who::Staff(Role::Manager);
const SCANNER: Who = Who::Device(DeviceKind::Scanner);
const LOCKER: Who = Who::Device(DeviceKind::Locker);
#[cfg(test)]
const PICKUP_SCREEN: Who = Who::Device(DeviceKind::PickupScreen);
const KIOSK: Who = Who::Device(DeviceKind::Kiosk);
#[cfg(test)]
const PRINTER: Who = Who::Device(DeviceKind::Printer);
#[cfg(test)]
const GATEWAY: Who = Who::Device(DeviceKind::Gateway);
const TILL: Who = Who::Device(DeviceKind::Till);
const API: Who = Who::Api;
const CLOUD: Who = Who::Cloud;
const CLI: Who = Who::Cli;

impl Who {
    /// Every principal, in the docs table's column order.
    #[cfg(test)]
    pub(crate) const ALL: [Who; 13] = [
        PICKER,
        DESK,
        MANAGER,
        SCANNER,
        LOCKER,
        PICKUP_SCREEN,
        KIOSK,
        PRINTER,
        GATEWAY,
        TILL,
        API,
        CLOUD,
        CLI,
    ];

    /// The column heading in docs/security.md.
    #[cfg(test)]
    pub(crate) fn title(self) -> &'static str {
        match self {
            Who::Staff(role) => role.name(),
            Who::Device(kind) => kind.name(),
            Who::Api => "API token",
            Who::Cloud => "HQ",
            Who::Cli => "CLI",
        }
    }
}

/// Defines [`CommandKind`]: one variant per `protocol::Command` variant,
/// with its JSON name.
macro_rules! command_kinds {
    ($($kind:ident => $name:literal,)*) => {
        /// A `protocol::Command` without its fields: what the table is
        /// keyed by.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum CommandKind {
            $($kind,)*
        }

        impl CommandKind {
            /// Every command, in the docs table's row order.
            pub(crate) const ALL: &'static [CommandKind] = &[$(CommandKind::$kind,)*];

            /// The command's name in JSON (`pick_item`).
            pub(crate) fn name(self) -> &'static str {
                match self {
                    $(CommandKind::$kind => $name,)*
                }
            }

            /// The kind of a command.
            pub(crate) fn of(command: &Command) -> CommandKind {
                match command {
                    $(Command::$kind { .. } => CommandKind::$kind,)*
                }
            }
        }
    };
}

// Rows grouped as a store reads them: orders, picking, hand-over, stock,
// the store and its accounts.
command_kinds! {
    CreateOrder => "create_order",
    CreateOrderWithPolicy => "create_order_with_policy",
    ConfirmPayment => "confirm_payment",
    Cancel => "cancel",
    RejectOrder => "reject_order",
    StartPick => "start_pick",
    PickItem => "pick_item",
    ShortItem => "short_item",
    ShortItemWithReason => "short_item_with_reason",
    ShortItemWithWriteOff => "short_item_with_write_off",
    SubstituteItem => "substitute_item",
    MarkPicked => "mark_picked",
    Stage => "stage",
    CheckIn => "check_in",
    CheckInByCode => "check_in_by_code",
    HandOver => "hand_over",
    ReportLockerDoor => "report_locker_door",
    RecordReceipt => "record_receipt",
    CountStock => "count_stock",
    AdjustStock => "adjust_stock",
    WriteOff => "write_off",
    SetSafetyStock => "set_safety_stock",
    AnnounceDelivery => "announce_delivery",
    ReceiveDelivery => "receive_delivery",
    ReconcileSnapshot => "reconcile_snapshot",
    OpenCountTask => "open_count_task",
    RecordCount => "record_count",
    ApproveCount => "approve_count",
    CancelCountTask => "cancel_count_task",
    ImportCatalog => "import_catalog",
    ImportCatalogEntries => "import_catalog_entries",
    RequestAvailability => "request_availability",
    SetStoreOpen => "set_store_open",
    SetPickupTimes => "set_pickup_times",
    AddStaff => "add_staff",
    SetStaffRole => "set_staff_role",
    SetStaffEnabled => "set_staff_enabled",
    ResetStaffPin => "reset_staff_pin",
    RegisterDevice => "register_device",
    RemoveDevice => "remove_device",
}

/// Who may send each command. A manager, the API token and the command
/// line may send every command; screens, printers and gateways none (they
/// only listen).
pub(crate) fn senders(command: CommandKind) -> &'static [Who] {
    use CommandKind::*;
    match command {
        CreateOrder => &[MANAGER, KIOSK, API, CLOUD, CLI],
        CreateOrderWithPolicy | ConfirmPayment | Cancel => &[MANAGER, API, CLOUD, CLI],
        RejectOrder => &[MANAGER, API, CLI],
        StartPick
        | PickItem
        | ShortItem
        | ShortItemWithReason
        | ShortItemWithWriteOff
        | SubstituteItem
        | MarkPicked => &[PICKER, MANAGER, SCANNER, API, CLI],
        Stage => &[PICKER, DESK, MANAGER, SCANNER, LOCKER, API, CLI],
        CheckIn | CheckInByCode => &[DESK, MANAGER, KIOSK, API, CLOUD, CLI],
        HandOver => &[DESK, MANAGER, LOCKER, API, CLI],
        ReportLockerDoor => &[MANAGER, LOCKER, API, CLI],
        RecordReceipt => &[MANAGER, TILL, API, CLI],
        CountStock | AdjustStock => &[MANAGER, API, CLOUD, CLI],
        WriteOff => &[MANAGER, API, CLI],
        SetSafetyStock | AnnounceDelivery | ReconcileSnapshot => &[MANAGER, API, CLOUD, CLI],
        // A picker's count and booking of a delivery, but not a scanner's
        // (a scanner picks; docs never let it count).
        ReceiveDelivery | RecordCount => &[PICKER, MANAGER, API, CLI],
        OpenCountTask | ApproveCount | CancelCountTask => &[MANAGER, API, CLI],
        ImportCatalog | ImportCatalogEntries | RequestAvailability | SetStoreOpen => {
            &[MANAGER, API, CLOUD, CLI]
        }
        SetPickupTimes | AddStaff | SetStaffRole | SetStaffEnabled | ResetStaffPin
        | RegisterDevice | RemoveDevice => &[MANAGER, API, CLI],
    }
}

/// The commands `who` may send, in table order.
pub(crate) fn sendable_by(who: Who) -> impl Iterator<Item = CommandKind> {
    CommandKind::ALL
        .iter()
        .copied()
        .filter(move |c| senders(*c).contains(&who))
}

/// Whether `who` may send `command`.
pub(crate) fn may_send(who: Who, command: &Command) -> bool {
    senders(CommandKind::of(command)).contains(&who)
}

/// A group of HTTP routes guarded alike (before the command check, which
/// every write passes too). Routes outside every group are open to any
/// logged-in staff member and the API token (reads, and writes whose
/// command decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Routes {
    PickPages,
    DeskPages,
    CountPages,
    StockChangePages,
    OrderOverridePages,
    ManagerPages,
    PickupLookup,
    StockFeeds,
    Administration,
}

impl Routes {
    /// Every group, in the docs table's row order.
    #[cfg(test)]
    pub(crate) const ALL: [Routes; 9] = [
        Routes::PickPages,
        Routes::DeskPages,
        Routes::CountPages,
        Routes::StockChangePages,
        Routes::OrderOverridePages,
        Routes::ManagerPages,
        Routes::PickupLookup,
        Routes::StockFeeds,
        Routes::Administration,
    ];

    /// The routes in the group, for the docs.
    #[cfg(test)]
    pub(crate) fn paths(self) -> &'static str {
        match self {
            Routes::PickPages => "pages `/pick…`",
            Routes::DeskPages => "pages `/desk…`",
            Routes::CountPages => "pages `/counts`, `/counts/count`",
            Routes::StockChangePages => {
                "pages `/stock/count`, `/stock/adjust`, `/stock/count-task`, `/counts/approve`, `/counts/cancel`"
            }
            Routes::OrderOverridePages => "pages `/orders/{id}/cancel`, `/orders/{id}/reject`",
            Routes::ManagerPages => "pages `/manager…`",
            Routes::PickupLookup => "API `GET /pickup/{code}`",
            Routes::StockFeeds => {
                "API `POST /stock/snapshot`, `/deliveries/announce`, `/catalog/import`"
            }
            Routes::Administration => {
                "API `/staff…`, `/devices…`, `/audit`, `/store`, `/sync`, `/backup`, `/outbox/customer-messages`, `/dead-letters`"
            }
        }
    }
}

/// Who may open each route group. Pages need a staff login (the API token
/// opens none); only staff, the API token and a till (for its receipts
/// alone: `web::auth`) reach the node over HTTP.
pub(crate) fn openers(routes: Routes) -> &'static [Who] {
    match routes {
        Routes::PickPages | Routes::CountPages => &[PICKER, MANAGER],
        Routes::DeskPages => &[DESK, MANAGER],
        Routes::StockChangePages | Routes::OrderOverridePages | Routes::ManagerPages => &[MANAGER],
        Routes::PickupLookup => &[DESK, MANAGER, API],
        Routes::StockFeeds | Routes::Administration => &[MANAGER, API],
    }
}

/// Whether `who` may open `routes`.
pub(crate) fn may_open(who: Who, routes: Routes) -> bool {
    openers(routes).contains(&who)
}

/// The first role (picker, desk, manager) that may open `routes`: what a
/// refusal tells a member to ask for.
pub(crate) fn role_needed(routes: Routes) -> Role {
    Role::ALL
        .into_iter()
        .find(|r| may_open(Who::Staff(*r), routes))
        .unwrap_or(Role::Manager)
}

/// The permission tables as markdown, for docs/security.md (its test
/// compares and rewrites them).
#[cfg(test)]
pub(crate) fn markdown() -> String {
    let mut out = String::new();
    let head = |out: &mut String, first: &str| {
        out.push_str(&format!("| {first} |"));
        for who in Who::ALL {
            out.push_str(&format!(" {} |", who.title()));
        }
        out.push('\n');
        out.push_str("| ---");
        out.push_str(&" | :-:".repeat(Who::ALL.len()));
        out.push_str(" |\n");
    };
    let cells = |out: &mut String, first: String, yes: &dyn Fn(Who) -> bool| {
        out.push_str(&format!("| {first} |"));
        for who in Who::ALL {
            out.push_str(if yes(who) { " yes |" } else { " — |" });
        }
        out.push('\n');
    };
    out.push_str(
        "Commands (from any door: pages, API, device topics, the cloud link, the CLI):\n\n",
    );
    head(&mut out, "command");
    for kind in CommandKind::ALL {
        let senders = senders(*kind);
        cells(&mut out, format!("`{}`", kind.name()), &|w| {
            senders.contains(&w)
        });
    }
    out.push_str("\nHTTP route groups (API paths under `/api/v1`):\n\n");
    head(&mut out, "routes");
    for routes in Routes::ALL {
        cells(&mut out, routes.paths().to_string(), &|w| {
            may_open(w, routes)
        });
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// One command of every kind, as a device would send it.
    pub(crate) fn samples() -> Vec<Command> {
        let order = r#"{"customer_name":"Ada","lines":[{"sku":"S","quantity":1,"unit_price_cents":1}],"payment":"pay_at_pickup"}"#;
        let item = r#"{"sku":"S","name":"n","barcodes":[],"location":{"aisle":1,"bay":1,"shelf":1},"zone":"ambient","unit_price_cents":1}"#;
        [
            format!(r#"{{"create_order":{{"order_id":"A-1","order":{order}}}}}"#),
            format!(r#"{{"create_order_with_policy":{{"order_id":"A-1","order":{order},"partial":"allow"}}}}"#),
            r#"{"confirm_payment":{"order_id":"A-1"}}"#.into(),
            r#"{"cancel":{"order_id":"A-1","reason":"r"}}"#.into(),
            r#"{"reject_order":{"order_id":"A-1","reason":"not_in_stock"}}"#.into(),
            r#"{"start_pick":{"order_id":"A-1"}}"#.into(),
            r#"{"pick_item":{"order_id":"A-1","line_no":1,"barcode":"1"}}"#.into(),
            r#"{"short_item":{"order_id":"A-1","line_no":1,"found":0}}"#.into(),
            r#"{"short_item_with_reason":{"order_id":"A-1","line_no":1,"found":0}}"#.into(),
            r#"{"short_item_with_write_off":{"order_id":"A-1","line_no":1,"found":0,"reason":"damaged","written_off":1}}"#.into(),
            r#"{"substitute_item":{"order_id":"A-1","line_no":1,"barcode":"1","quantity":1}}"#.into(),
            r#"{"mark_picked":{"order_id":"A-1"}}"#.into(),
            r#"{"stage":{"order_id":"A-1","slot":{"kind":"shelf","id":"1"}}}"#.into(),
            r#"{"check_in":{"order_id":"A-1","channel":"desk"}}"#.into(),
            r#"{"check_in_by_code":{"code":"123456","channel":"kiosk"}}"#.into(),
            r#"{"hand_over":{"order_id":"A-1","code":"123456"}}"#.into(),
            r#"{"report_locker_door":{"compartment":"1","open":true}}"#.into(),
            r#"{"record_receipt":{"receipt":{"receipt_id":"R1","till":"t","at_ms":1,"kind":"sale","lines":[]}}}"#.into(),
            r#"{"count_stock":{"counts":[]}}"#.into(),
            r#"{"adjust_stock":{"sku":"S","delta":1,"reason":"r"}}"#.into(),
            r#"{"write_off":{"sku":"S","quantity":1,"reason":"damaged"}}"#.into(),
            r#"{"set_safety_stock":{"scope":"store","safety":1}}"#.into(),
            r#"{"announce_delivery":{"delivery_id":"D1","lines":[]}}"#.into(),
            r#"{"receive_delivery":{"lines":[]}}"#.into(),
            r#"{"reconcile_snapshot":{"as_of_ms":1,"lines":[]}}"#.into(),
            r#"{"open_count_task":{"sku":"S"}}"#.into(),
            r#"{"record_count":{"task_id":"C1","counted":1}}"#.into(),
            r#"{"approve_count":{"task_id":"C1"}}"#.into(),
            r#"{"cancel_count_task":{"task_id":"C1"}}"#.into(),
            format!(r#"{{"import_catalog":{{"items":[{item}]}}}}"#),
            format!(r#"{{"import_catalog_entries":{{"items":[{{"item":{item}}}]}}}}"#),
            r#"{"request_availability":{}}"#.into(),
            r#"{"set_store_open":{"open":true}}"#.into(),
            r#"{"set_pickup_times":{"expiry_s":1,"reminder_s":1}}"#.into(),
            r#"{"add_staff":{"staff_id":"1","name":"n","role":"picker","pin_hash":"h"}}"#.into(),
            r#"{"set_staff_role":{"staff_id":"1","role":"desk"}}"#.into(),
            r#"{"set_staff_enabled":{"staff_id":"1","enabled":true}}"#.into(),
            r#"{"reset_staff_pin":{"staff_id":"1","pin_hash":"h"}}"#.into(),
            r#"{"register_device":{"name":"d","kind":"scanner","salt":"s","password_hash":"h","cert_sha256":"c"}}"#.into(),
            r#"{"remove_device":{"name":"d"}}"#.into(),
        ]
        .iter()
        .map(|j| serde_json::from_str(j).unwrap_or_else(|e| panic!("{j}: {e}")))
        .collect()
    }

    #[test]
    fn every_command_kind_has_a_sample_and_its_json_name() {
        let samples = samples();
        let kinds: Vec<CommandKind> = samples.iter().map(CommandKind::of).collect();
        assert_eq!(
            kinds,
            CommandKind::ALL,
            "one sample per kind, in table order"
        );
        for c in &samples {
            let json = serde_json::to_value(c).expect("encodes");
            let name = json.as_object().and_then(|o| o.keys().next()).cloned();
            assert_eq!(name.as_deref(), Some(CommandKind::of(c).name()));
        }
    }

    #[test]
    fn managers_the_token_and_the_cli_send_everything_listeners_nothing() {
        for kind in CommandKind::ALL {
            for who in [MANAGER, API, CLI] {
                assert!(senders(*kind).contains(&who), "{who:?} {kind:?}");
            }
            for who in [PICKUP_SCREEN, PRINTER, GATEWAY] {
                assert!(!senders(*kind).contains(&who), "{who:?} {kind:?}");
            }
        }
    }

    #[test]
    fn a_refusal_names_the_least_role_that_may() {
        assert_eq!(role_needed(Routes::PickPages), Role::Picker);
        assert_eq!(role_needed(Routes::DeskPages), Role::Desk);
        assert_eq!(role_needed(Routes::PickupLookup), Role::Desk);
        assert_eq!(role_needed(Routes::Administration), Role::Manager);
    }

    /// docs/security.md's permission tables are this module's data. With
    /// `STORENODE_WRITE_DOCS=1` the test writes them there instead.
    #[test]
    fn docs_security_md_has_the_current_table() {
        const BEGIN: &str = "<!-- permissions:begin -->\n";
        const END: &str = "<!-- permissions:end -->";
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/security.md");
        let doc = std::fs::read_to_string(path).expect("docs/security.md");
        let (Some(b), Some(e)) = (doc.find(BEGIN), doc.find(END)) else {
            panic!("docs/security.md has no {BEGIN:?} … {END:?} block");
        };
        let start = b + BEGIN.len();
        let want = format!("\n{}\n", markdown());
        if doc[start..e] == want {
            return;
        }
        if std::env::var_os("STORENODE_WRITE_DOCS").is_some_and(|v| v == "1") {
            let new = format!("{}{want}{}", &doc[..start], &doc[e..]);
            std::fs::write(path, new).expect("write docs/security.md");
            return;
        }
        panic!(
            "docs/security.md's permission table differs from node/src/domain/permissions.rs; \
             regenerate it with: STORENODE_WRITE_DOCS=1 cargo test -p storenode --lib permissions"
        );
    }
}
