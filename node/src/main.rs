//! `storenode`: parse arguments, load config, run. Nothing else.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use storenode::config::{self, Layers, Source};

#[derive(Parser)]
#[command(
    name = "storenode",
    version,
    about = "Store-fulfillment node: orders, picking, pickup — offline first"
)]
#[command(after_help = format!("Configuration keys (file key, default, meaning, environment variable):\n{}", config::describe_keys()))]
struct Cli {
    /// TOML configuration file; give it more than once to layer files (the
    /// fleet's template, then the store's own file: later files override
    /// earlier ones key by key). Also STORENODE_CONFIG, paths separated
    /// by `:`.
    #[arg(long, global = true, env = "STORENODE_CONFIG", value_delimiter = ':')]
    config: Vec<PathBuf>,
    /// Where the database, API token and keys live.
    #[arg(long, global = true)]
    data_dir: Option<String>,
    /// This store's id.
    #[arg(long, global = true)]
    store_id: Option<String>,
    /// Device broker listener, e.g. 0.0.0.0:1883.
    #[arg(long, global = true)]
    mqtt_listen: Option<String>,
    /// Device broker TLS listener (client certificates), e.g. 0.0.0.0:8883.
    #[arg(long, global = true)]
    mqtt_tls_listen: Option<String>,
    /// Staff pages and API listener, e.g. 0.0.0.0:8080.
    #[arg(long, global = true)]
    http_listen: Option<String>,
    /// Log filter, e.g. info or storenode=debug.
    #[arg(long, global = true)]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the node (the default).
    Run,
    /// Print the effective configuration and exit.
    CheckConfig,
    /// Check the database against its log (node stopped): gapless log,
    /// contiguous order streams, projections equal to a replay. Exit 1 on
    /// any problem.
    Verify,
    /// Write every projection (orders, stock, settings, staff, devices)
    /// again from the log (node stopped), when the log is sound but what is
    /// derived from it is not. Refused, with nothing written, if the log
    /// itself is damaged (then restore a backup).
    Rebuild,
    /// Manage device credentials for the store broker (node stopped).
    Device {
        #[command(subcommand)]
        action: DeviceCmd,
    },
    /// Import the catalog and stock from a CSV or JSON file (node stopped;
    /// while it runs, POST the file to /api/v1/catalog/import). Bad rows
    /// are listed with their row number and reason; the good rows are
    /// imported in one atomic write.
    Import {
        /// A .csv or .json file (see docs/api.md for the columns).
        file: PathBuf,
        /// Check the file only.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print this node's public key for pickup tokens (HQ trusts it).
    Keys,
    /// Make a new store ready to run, without questions: write the store's
    /// configuration file, then the database, API token, pickup key, staff
    /// secret and device CA, and the first manager (its PIN printed once);
    /// print what to do next. Refuses a data directory that holds a store.
    Init {
        /// The store's configuration file to write (read after the
        /// `--config` files, which are the fleet's template).
        #[arg(long, default_value = "/etc/storenode/store.toml")]
        output: PathBuf,
        /// The cloud broker, e.g. mqtts://hq.example:8883 (none: offline
        /// only until set).
        #[arg(long)]
        cloud: Option<String>,
        /// CA certificate file for the cloud broker (PEM).
        #[arg(long)]
        cloud_ca: Option<String>,
        /// This store's client certificate and key for the cloud broker.
        #[arg(long, requires = "cloud_key")]
        cloud_cert: Option<String>,
        #[arg(long, requires = "cloud_cert")]
        cloud_key: Option<String>,
        /// User name and password for the cloud broker.
        #[arg(long, requires = "cloud_password")]
        cloud_username: Option<String>,
        #[arg(long, requires = "cloud_username")]
        cloud_password: Option<String>,
        /// The first manager's name.
        #[arg(long, default_value = "Store manager")]
        manager: String,
        /// Write the configuration file again if it exists (a data
        /// directory that holds a store is never replaced).
        #[arg(long)]
        force: bool,
    },
    /// Write a consistent backup of the store (database and secrets) to
    /// PATH. While the node runs it is taken through the node, between two
    /// writes (online); otherwise directly.
    Backup { path: PathBuf },
    /// Restore a backup into the data directory (node stopped). The file is
    /// checked whole first; a data directory that holds a database is
    /// refused unless --force, which moves it aside.
    Restore {
        path: PathBuf,
        #[arg(long)]
        force: bool,
    },
    /// Check the data directory, permissions, disk, clock, the broker and
    /// the store's integrity, and say what to do. Exit 1 on a problem.
    Doctor,
    /// Manage staff logins for the store's pages (node stopped; while it
    /// runs, a manager uses the Staff page or the API).
    Staff {
        #[command(subcommand)]
        action: StaffCmd,
    },
    /// Run the node with a seeded demo store (a few hundred SKUs across
    /// aisles, staff, and a trickle of orders worked through the flow).
    Demo,
}

#[derive(Subcommand)]
enum StaffCmd {
    /// Add a staff member; prints the staff id and a generated PIN once.
    Add {
        /// The name staff and managers see.
        name: String,
        /// picker, desk or manager.
        #[arg(long, default_value = "picker")]
        role: String,
        /// The staff id to log in with (default: the next free number).
        #[arg(long)]
        id: Option<String>,
    },
    /// List staff accounts.
    List,
    /// Give a staff member a new PIN (printed once); ends their sessions.
    Pin { id: String },
    /// Disable a staff account (it can no longer log in).
    Disable { id: String },
    /// Enable a disabled staff account.
    Enable { id: String },
}

#[derive(Subcommand)]
enum DeviceCmd {
    /// Register a device: prints its password and writes its bundle (CA
    /// certificate, device certificate and key, how to connect).
    Add {
        name: String,
        /// scanner, locker, pickup-screen, kiosk, printer or gateway.
        #[arg(long)]
        kind: String,
        /// A locker's compartments, e.g. 1-24 or A1,A2,B1.
        #[arg(long, default_value = "")]
        compartments: String,
        /// Where to write NAME.bundle.pem (mode 0600).
        #[arg(long, default_value = ".")]
        bundle_dir: std::path::PathBuf,
    },
    /// List registered devices.
    List,
    /// Remove a device.
    Remove { name: String },
}

fn layers(cli: &Cli) -> Result<Layers, config::ConfigError> {
    let mut l = Layers::defaults();
    for path in &cli.config {
        l.file(path)?;
    }
    l.env(std::env::vars());
    let flags = [
        ("data_dir", &cli.data_dir, "--data-dir"),
        ("store_id", &cli.store_id, "--store-id"),
        ("mqtt.listen", &cli.mqtt_listen, "--mqtt-listen"),
        ("mqtt.tls_listen", &cli.mqtt_tls_listen, "--mqtt-tls-listen"),
        ("http.listen", &cli.http_listen, "--http-listen"),
        ("log.level", &cli.log_level, "--log-level"),
    ];
    for (key, value, flag) in flags {
        if let Some(v) = value {
            l.set(key, v.clone(), Source::Flag(flag.to_string()));
        }
    }
    Ok(l)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Cmd::Init { .. }) = &cli.command {
        return init(cli);
    }
    let config = match layers(&cli).and_then(|l| l.validate()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("storenode: refusing to start: {e}");
            return ExitCode::from(2);
        }
    };
    let mut demo = false;
    match cli.command.unwrap_or(Cmd::Run) {
        Cmd::Run => {}
        Cmd::CheckConfig => {
            let mut shown = config.clone();
            if shown.api_token.is_some() {
                shown.api_token = Some("(set, not shown)".into());
            }
            println!("{shown:#?}");
            return ExitCode::SUCCESS;
        }
        Cmd::Device { action } => return device(&config, action),
        Cmd::Staff { action } => return staff(&config, action),
        Cmd::Verify => return verify(&config),
        Cmd::Rebuild => return rebuild(&config),
        Cmd::Import { file, dry_run } => return import(&config, &file, dry_run),
        Cmd::Keys => {
            return match storenode::data_dir::pickup_keys(&config) {
                Ok(k) => {
                    println!("{}", protocol::pickup::key_to_text(&k.public_key()));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("storenode: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Demo => demo = true,
        Cmd::Init { .. } => unreachable!("handled before the configuration is read"),
        Cmd::Backup { path } => return backup(&config, &path),
        Cmd::Restore { path, force } => return restore(&config, &path, force),
        Cmd::Doctor => {
            let (text, failed) =
                storenode::ops::doctor::render(&storenode::ops::doctor::doctor(&config));
            print!("{text}");
            return if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    }
    storenode::app::init_tracing(&config.log_level, config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("storenode: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(storenode::app::run(config, demo)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "storenode failed");
            eprintln!("storenode: {e}");
            ExitCode::FAILURE
        }
    }
}

fn device(config: &config::Config, action: DeviceCmd) -> ExitCode {
    let fail = |e: String| {
        eprintln!("storenode: {e}");
        if e.contains("in use by another process") {
            eprintln!(
                "(while the node runs, a manager uses the Devices page or POST /api/v1/devices)"
            );
        }
        ExitCode::FAILURE
    };
    let run = |command: protocol::Command| -> Result<(), String> {
        match storenode::ops::offline_command(config, command).map_err(|e| e.to_string())? {
            storenode::store::Written::Applied { .. } => Ok(()),
            storenode::store::Written::Rejected { rejection, .. } => Err(rejection.to_string()),
            other => Err(format!("unexpected outcome {other:?}")),
        }
    };
    let result = match action {
        DeviceCmd::Add {
            name,
            kind,
            compartments,
            bundle_dir,
        } => (|| {
            storenode::check_device_name(&name)?;
            let kind = protocol::DeviceKind::from_name(&kind).ok_or_else(|| {
                format!("--kind {kind:?}: must be scanner, locker, pickup-screen, kiosk, printer or gateway")
            })?;
            let compartments = storenode::domain::device::parse_compartments(&compartments)
                .map_err(|e| format!("--compartments: {e}"))?;
            let ca = storenode::pki::NodeCa::open(&config.data_dir, config.store_id.as_str())
                .map_err(|e| e.to_string())?;
            let reg = storenode::services::devices::prepare(&ca, &name, kind, compartments)
                .map_err(|e| e.to_string())?;
            run(reg.command.clone())?;
            let broker = config.mqtt_tls_listen.map(|a| a.to_string());
            let bundle = reg.bundle(&config.store_id, ca.ca_pem(), broker.as_deref());
            std::fs::create_dir_all(&bundle_dir)
                .map_err(|e| format!("{}: {e}", bundle_dir.display()))?;
            let path = bundle_dir.join(format!("{name}.bundle.pem"));
            storenode::pki::write_private(&path, &bundle).map_err(|e| e.to_string())?;
            println!("device {name} added ({})", kind.name());
            println!("  namespace:     /tenants/{}/", reg.tenant);
            println!("  MQTT username: {name}");
            println!("  MQTT password: {}   (shown once)", reg.password);
            println!(
                "  bundle:        {} (certificate, key, CA, topics; mode 0600)",
                path.display()
            );
            Ok(())
        })(),
        DeviceCmd::List => storenode::data_dir::open_store(config)
            .map_err(|e| e.to_string())
            .map(|store| {
                for d in store.device_list() {
                    if d.compartments.is_empty() {
                        println!("{}\t{}\t/tenants/{}/", d.name, d.kind.name(), d.tenant);
                    } else {
                        println!(
                            "{}\t{}\t/tenants/{}/\tcompartments {}",
                            d.name,
                            d.kind.name(),
                            d.tenant,
                            d.compartments.join(",")
                        );
                    }
                }
            }),
        DeviceCmd::Remove { name } => run(protocol::Command::RemoveDevice { name: name.clone() })
            .map(|()| println!("device {name} removed")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn staff(config: &config::Config, action: StaffCmd) -> ExitCode {
    use protocol::{Command, Role};
    use storenode::services::staff::{next_id, pin_and_hash_blocking};
    let fail = |e: String| {
        eprintln!("storenode: {e}");
        if e.contains("in use by another process") {
            eprintln!("(while the node runs, a manager uses the Staff page or POST /api/v1/staff)");
        }
        ExitCode::FAILURE
    };
    let pins = match storenode::data_dir::pin_hasher(config) {
        Ok(p) => p,
        Err(e) => return fail(e.to_string()),
    };
    let run = |command: Command| -> Result<(), String> {
        match storenode::ops::offline_command(config, command).map_err(|e| e.to_string())? {
            storenode::store::Written::Applied { .. } => Ok(()),
            storenode::store::Written::Rejected { rejection, .. } => Err(rejection.to_string()),
            other => Err(format!("unexpected outcome {other:?}")),
        }
    };
    let result = match action {
        StaffCmd::Add { name, role, id } => (|| {
            let role = Role::from_name(&role)
                .ok_or_else(|| format!("--role {role:?}: must be picker, desk or manager"))?;
            let id = match id {
                Some(i) => i,
                None => {
                    next_id(&storenode::data_dir::open_store(config).map_err(|e| e.to_string())?)
                }
            };
            let (pin, pin_hash) = pin_and_hash_blocking(&pins, None).map_err(|e| e.to_string())?;
            run(Command::AddStaff {
                staff_id: id.clone(),
                name: name.clone(),
                role,
                pin_hash,
            })?;
            println!("staff member added: {}", name.trim());
            println!("  staff id: {id}");
            println!("  role:     {}", role.name());
            println!("  PIN:      {pin}   (shown once; log in at the node's pages)");
            Ok(())
        })(),
        StaffCmd::List => storenode::data_dir::open_store(config)
            .map_err(|e| e.to_string())
            .map(|store| {
                for m in store.staff_list() {
                    println!(
                        "{:<10} {:<8} {:<9} {}",
                        m.id,
                        m.role.name(),
                        if m.enabled { "enabled" } else { "disabled" },
                        m.name
                    );
                }
            }),
        StaffCmd::Pin { id } => (|| {
            let (pin, pin_hash) = pin_and_hash_blocking(&pins, None).map_err(|e| e.to_string())?;
            run(Command::ResetStaffPin {
                staff_id: id.clone(),
                pin_hash,
            })?;
            println!("new PIN for staff {id}: {pin}   (shown once)");
            Ok(())
        })(),
        StaffCmd::Disable { id } => run(Command::SetStaffEnabled {
            staff_id: id.clone(),
            enabled: false,
        })
        .map(|()| println!("staff {id} disabled")),
        StaffCmd::Enable { id } => run(Command::SetStaffEnabled {
            staff_id: id.clone(),
            enabled: true,
        })
        .map(|()| println!("staff {id} enabled")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn init(cli: Cli) -> ExitCode {
    let Some(Cmd::Init {
        output,
        cloud,
        cloud_ca,
        cloud_cert,
        cloud_key,
        cloud_username,
        cloud_password,
        manager,
        force,
    }) = cli.command
    else {
        return ExitCode::FAILURE;
    };
    let Some(store_id) = cli.store_id else {
        eprintln!("storenode init: give the store's id: storenode init --store-id ID");
        return ExitCode::from(2);
    };
    let mut values = Vec::new();
    let flags = [
        ("data_dir", cli.data_dir),
        ("http.listen", cli.http_listen),
        ("mqtt.listen", cli.mqtt_listen),
        ("mqtt.tls_listen", cli.mqtt_tls_listen),
        ("log.level", cli.log_level),
        ("cloud.url", cloud),
        ("cloud.ca_file", cloud_ca),
        ("cloud.cert_file", cloud_cert),
        ("cloud.key_file", cloud_key),
        ("cloud.username", cloud_username),
        ("cloud.password", cloud_password),
    ];
    for (key, value) in flags {
        if let Some(v) = value {
            values.push((key.to_string(), v));
        }
    }
    let args = storenode::ops::init::InitArgs {
        store_id,
        output,
        templates: cli.config,
        values,
        manager,
        force,
    };
    match storenode::ops::init::init(&args, std::env::vars()) {
        Ok(done) => {
            print!("{}", storenode::ops::init::next_steps(&done));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("storenode init: {e}");
            ExitCode::FAILURE
        }
    }
}

fn backup(config: &config::Config, path: &std::path::Path) -> ExitCode {
    match storenode::ops::backup(config, path) {
        Ok((s, online)) => {
            println!(
                "backup of store {} written to {}: log head {}, {} keys, {} files, {} bytes ({})",
                s.header.store_id,
                path.display(),
                s.header.log_head,
                s.keys,
                s.files.len(),
                s.bytes,
                if online {
                    "online, through the running node"
                } else {
                    "the node was stopped"
                }
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("storenode backup: {e}");
            ExitCode::FAILURE
        }
    }
}

fn restore(config: &config::Config, path: &std::path::Path, force: bool) -> ExitCode {
    match storenode::ops::restore(config, path, force) {
        Ok(r) => {
            let report = &r.report;
            println!(
                "restored store {} from {}: log head {}, {} keys, {} files",
                r.summary.header.store_id,
                path.display(),
                r.summary.header.log_head,
                r.summary.keys,
                r.summary.files.len()
            );
            if let Some(aside) = &r.moved_aside {
                println!(
                    "  the previous database and secrets were moved to {}",
                    aside.display()
                );
            }
            print_report(report, "; start the node")
        }
        Err(e) => {
            eprintln!("storenode restore: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A `verify` report as `verify` and `restore` print it: exit 1 on a
/// problem.
fn print_report(r: &storenode::store::VerifyReport, then: &str) -> ExitCode {
    println!("{} events, {} orders checked", r.events, r.orders);
    for p in &r.problems {
        println!("PROBLEM: {p}");
    }
    if r.problems.is_empty() {
        println!("store is consistent with its log{then}");
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn verify(config: &config::Config) -> ExitCode {
    let report = storenode::data_dir::open_store(config)
        .map_err(|e| e.to_string())
        .and_then(|s| s.verify().map_err(|e| e.to_string()));
    match report {
        Ok(r) => print_report(&r, ""),
        Err(e) => {
            eprintln!("storenode: {e}");
            ExitCode::FAILURE
        }
    }
}

fn rebuild(config: &config::Config) -> ExitCode {
    match storenode::store::rebuild(&config.data_dir.join("db"), &config.store_id) {
        Ok(r) => {
            println!(
                "rebuilt from {} events: {} orders, {} SKUs, {} staff, {} devices ({} projection keys replaced); run `storenode verify` to check",
                r.events, r.orders, r.skus, r.staff, r.devices, r.replaced
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("storenode: rebuild refused: {e}");
            ExitCode::FAILURE
        }
    }
}

fn import(config: &config::Config, file: &std::path::Path, dry_run: bool) -> ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("storenode: {}: {e}", file.display());
            return ExitCode::FAILURE;
        }
    };
    let is_json = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let parsed = if is_json {
        storenode::import::parse_json(&text)
    } else {
        storenode::import::parse_csv(&text)
    };
    let parsed = match parsed {
        Ok(p) => p,
        Err(e) => {
            eprintln!("storenode: {}: {e}", file.display());
            return ExitCode::FAILURE;
        }
    };
    for e in &parsed.errors {
        println!(
            "row {}{}: {}: {}",
            e.row,
            e.sku
                .as_ref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default(),
            e.field,
            e.reason
        );
    }
    println!(
        "{} row(s) valid, {} with stock counts, {} refused",
        parsed.items.len(),
        parsed.stock.len(),
        parsed.errors.len()
    );
    if parsed.items.is_empty() {
        eprintln!("storenode: nothing to import");
        return ExitCode::FAILURE;
    }
    if dry_run {
        return if parsed.errors.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(3)
        };
    }
    let command = protocol::Command::ImportCatalog {
        items: parsed.items,
        stock: parsed.stock,
    };
    match storenode::ops::offline_command(config, command) {
        Ok(storenode::store::Written::Applied { log_seqs, .. }) => {
            println!("imported ({} event(s) appended)", log_seqs.len());
            if parsed.errors.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            }
        }
        Ok(storenode::store::Written::Rejected { rejection: r, .. }) => {
            eprintln!("storenode: import refused: {r}");
            ExitCode::FAILURE
        }
        Ok(other) => {
            eprintln!("storenode: unexpected outcome {other:?}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("storenode: {e}");
            eprintln!("(while the node runs, POST the file to /api/v1/catalog/import)");
            ExitCode::FAILURE
        }
    }
}
