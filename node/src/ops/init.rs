//! `storenode init`: make a store ready to run, in one step, without
//! questions (HQ's provisioning or the installer runs it).
//!
//! It writes the store's own configuration file (the fleet's template
//! stays as HQ ships it), then, in the configured data directory: the
//! database (recording the store id), the API token, the pickup key, the
//! staff secret and the device CA, and adds the first manager with a PIN
//! it prints once. It refuses to overwrite a configuration or to run on a
//! data directory that already holds a store, unless told `--force` (for
//! the file) — a store's data is never replaced by `init`.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::OpsError;
use crate::config::{self, Layers, Source};
use crate::store::backup::FileError;

/// What `init` is told.
#[derive(Debug, Clone)]
pub struct InitArgs {
    pub store_id: String,
    /// The store's configuration file to write.
    pub output: PathBuf,
    /// Configuration files read before it (the fleet template).
    pub templates: Vec<PathBuf>,
    /// Values for the store's file, beyond the store id: `(key, value)`.
    pub values: Vec<(String, String)>,
    pub manager: String,
    pub force: bool,
}

/// What `init` made.
#[derive(Debug)]
pub struct Initialised {
    pub config: config::Config,
    pub output: PathBuf,
    pub manager_id: String,
    pub manager_pin: String,
    pub pickup_key: String,
    pub api_token_file: Option<PathBuf>,
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The store's file: `store_id` and the given values, as TOML tables.
pub fn store_file(store_id: &str, values: &[(String, String)]) -> String {
    let mut top = format!("store_id = {}\n", toml_string(store_id));
    let mut tables: std::collections::BTreeMap<&str, Vec<(&str, &str)>> = Default::default();
    for (k, v) in values {
        match k.split_once('.') {
            Some((table, key)) => tables.entry(table).or_default().push((key, v)),
            None => {
                let _ = writeln!(top, "{k} = {}", toml_string(v));
            }
        }
    }
    for (table, keys) in tables {
        let _ = write!(top, "\n[{table}]\n");
        for (k, v) in keys {
            let _ = writeln!(top, "{k} = {}", toml_string(v));
        }
    }
    top
}

pub fn init(
    args: &InitArgs,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Initialised, OpsError> {
    if args.output.exists() && !args.force {
        return Err(OpsError::ConfigFileExists(args.output.clone()));
    }
    let text = format!(
        "# This store's own configuration, written by `storenode init` (storenode {}).\n# The fleet's template is read before it; values here override it, and\n# STORENODE_* environment variables override both.\n{}",
        crate::store::format::RELEASE,
        store_file(&args.store_id, &args.values)
    );
    // Checked as the node will read it, before anything is written.
    let mut layers = Layers::defaults();
    for t in &args.templates {
        layers.file(t)?;
    }
    layers.toml_text(&text, &args.output)?;
    layers.env(env);
    layers.set(
        "store_id",
        args.store_id.clone(),
        Source::Flag("--store-id".into()),
    );
    let config = layers.validate()?;
    if config.data_dir.join("db").exists() {
        let store = crate::data_dir::open_store(&config)?;
        if store.head() > 0 {
            return Err(OpsError::StoreExists {
                dir: config.data_dir.clone(),
                store: store.store_id().to_string(),
                head: store.head(),
            });
        }
    }
    if let Some(dir) = args.output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(FileError::at(dir))?;
    }
    write_atomically(&args.output, &text)?;

    // The data directory's secrets and the database, as the first start
    // would make them.
    crate::data_dir::prepare_data_dir(&config.data_dir)?;
    let store = crate::data_dir::open_store(&config)?;
    drop(store);
    let api_token_file = if config.api_token.is_none() {
        crate::data_dir::api_token_file(&config)?;
        Some(config.data_dir.join("api-token"))
    } else {
        None
    };
    let keys = crate::data_dir::pickup_keys(&config)?;
    let pins = crate::data_dir::pin_hasher(&config)?;
    crate::pki::NodeCa::open(&config.data_dir, config.store_id.as_str())?;

    let manager_id = crate::services::staff::next_id(&crate::data_dir::open_store(&config)?);
    let (pin, pin_hash) = crate::services::staff::pin_and_hash_blocking(&pins, None)?;
    match super::offline_command(
        &config,
        protocol::Command::AddStaff {
            staff_id: manager_id.clone(),
            name: args.manager.clone(),
            role: protocol::Role::Manager,
            pin_hash,
        },
    )? {
        crate::store::Written::Applied { .. } => {}
        crate::store::Written::Rejected { rejection, .. } => {
            return Err(OpsError::Rejected(rejection))
        }
        other => return Err(OpsError::Unexpected(format!("{other:?}"))),
    }
    Ok(Initialised {
        output: args.output.clone(),
        manager_id,
        manager_pin: pin,
        pickup_key: protocol::pickup::key_to_text(&keys.public_key()),
        api_token_file,
        config,
    })
}

/// Write the store's file, mode 0640: it may hold the cloud password. Run
/// as root (the installer), its group becomes the service user's group
/// `storenode` when there is one, so the unit can read it and other users
/// cannot.
fn write_atomically(path: &Path, text: &str) -> Result<(), OpsError> {
    use std::os::unix::fs::MetadataExt;
    crate::pki::write_mode(path, text.as_bytes(), 0o640)?;
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if let (true, Some(gid)) = (root, group_id("storenode")) {
        std::os::unix::fs::chown(path, None, Some(gid)).map_err(FileError::at(path))?;
    }
    Ok(())
}

/// A group's id from /etc/group.
fn group_id(name: &str) -> Option<u32> {
    std::fs::read_to_string("/etc/group")
        .ok()?
        .lines()
        .find_map(|l| {
            let mut f = l.split(':');
            (f.next()? == name).then_some(())?;
            f.nth(1)?.parse().ok()
        })
}

/// What to do next, for the person or script that ran `init`.
pub fn next_steps(i: &Initialised) -> String {
    let c = &i.config;
    let scheme = match c.http_tls {
        config::HttpTls::Off => "http",
        _ => "https",
    };
    let mut s = String::new();
    let _ = writeln!(s, "store {} initialised", c.store_id);
    let _ = writeln!(s, "  configuration  {}", i.output.display());
    let _ = writeln!(s, "  data           {}", c.data_dir.display());
    if let Some(f) = &i.api_token_file {
        let _ = writeln!(s, "  API token      {} (mode 0600)", f.display());
    }
    let _ = writeln!(
        s,
        "  pickup key     {}   (HQ trusts QR codes signed with it)",
        i.pickup_key
    );
    let _ = writeln!(
        s,
        "  first manager  staff id {}, PIN {}   (shown once; change it on the Staff page)",
        i.manager_id, i.manager_pin
    );
    let _ = writeln!(s);
    let _ = writeln!(s, "next:");
    let _ = writeln!(
        s,
        "  1. start it:           systemctl enable --now storenode"
    );
    let _ = writeln!(
        s,
        "  2. check it:           storenode doctor   (or GET {scheme}://<this machine>:{}/readyz)",
        c.http_listen.port()
    );
    let _ = writeln!(
        s,
        "  3. staff pages:        {scheme}://<this machine>:{}/ — log in as {} with the PIN above",
        c.http_listen.port(),
        i.manager_id
    );
    if scheme == "https" {
        let _ = writeln!(
            s,
            "                         (staff devices install the store's CA from /ca.pem once)"
        );
    }
    let _ = writeln!(
        s,
        "  4. devices:            storenode device add NAME --kind scanner|locker|pickup-screen|kiosk|printer|gateway"
    );
    match &c.cloud {
        Some(cl) => {
            let _ = writeln!(
                s,
                "  5. cloud link:         {} (the node syncs on its own)",
                cl.url
            );
        }
        None => {
            let _ = writeln!(
                s,
                "  5. cloud link:         none yet: set [cloud] url in {} (the log keeps everything until then)",
                i.output.display()
            );
        }
    }
    let _ = writeln!(
        s,
        "  6. back it up:         storenode backup /path/store.snbackup (also while it runs)"
    );
    s
}
