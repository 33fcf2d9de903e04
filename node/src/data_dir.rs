//! The data directory: made 0700, the secrets kept in it (API token,
//! pickup key, staff secret), made on first use, and the store it holds.
//! The node (`app`) and the operator's commands (`ops`) open them alike.
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::domain::pickup::PickupKeys;
use crate::store::{Store, StoreError};

/// Why the data directory, or the store in it, cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("data_dir {path}: {reason}")]
    Dir { path: PathBuf, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Make the API token file if it is missing (`init`); the path when made.
pub(crate) fn api_token_file(config: &Config) -> Result<Option<PathBuf>, DataDirError> {
    api_token(config).map(|(_, made)| made)
}

/// Read the API token from the data dir, or make one (0600) on first start.
pub(crate) fn api_token(config: &Config) -> Result<(String, Option<PathBuf>), DataDirError> {
    if let Some(t) = &config.api_token {
        return Ok((t.clone(), None));
    }
    read_or_create_secret(
        &config.data_dir.join("api-token"),
        |t| t.len() >= 16,
        || hex::encode(rand::random::<[u8; 24]>()),
        true,
    )
}

/// A 32-byte key kept as hex in `<data_dir>/<file>` (0600), made on
/// first use. A damaged key is not replaced: a new one would void what
/// the old one made (QR codes, staff PINs); the operator restores it from
/// a backup, or deletes it knowingly.
fn data_dir_key(config: &Config, file: &str) -> Result<[u8; 32], DataDirError> {
    prepare_data_dir(&config.data_dir)?;
    let path = config.data_dir.join(file);
    let (text, _) = read_or_create_secret(
        &path,
        |t| hex::decode(t).is_ok_and(|b| b.len() == 32),
        || hex::encode(rand::random::<[u8; 32]>()),
        false,
    )?;
    hex::decode(&text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| DataDirError::Dir {
            path,
            reason: "not a 32-byte hex key".into(),
        })
}

/// The node's pickup-token keys: its own signing key (`pickup-key`, a
/// 32-byte seed) plus the trusted HQ keys.
pub fn pickup_keys(config: &Config) -> Result<PickupKeys, DataDirError> {
    let seed = data_dir_key(config, "pickup-key")?;
    Ok(PickupKeys::new(
        config.store_id.clone(),
        ed25519_dalek::SigningKey::from_bytes(&seed),
        config.pickup_hq_keys.clone(),
    ))
}

/// The staff secret (`staff-secret`): the key Argon2 hashes staff PINs
/// with. Without it no PIN hash in the log can be checked or attacked.
pub fn pin_hasher(config: &Config) -> Result<crate::pin::PinHasher, DataDirError> {
    Ok(crate::pin::PinHasher::new(data_dir_key(
        config,
        "staff-secret",
    )?))
}

/// Read a secret from `path`, or make one (0600, synced) if it is missing
/// (or, with `replace_invalid`, not `valid`). Returns the path too when it
/// was just made.
fn read_or_create_secret(
    path: &Path,
    valid: impl Fn(&str) -> bool,
    make: impl Fn() -> String,
    replace_invalid: bool,
) -> Result<(String, Option<PathBuf>), DataDirError> {
    let dir_err = |e: std::io::Error| DataDirError::Dir {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    match std::fs::read_to_string(path) {
        Ok(t) if valid(t.trim()) => return Ok((t.trim().to_string(), None)),
        Ok(_) if replace_invalid => {}
        Ok(_) => {
            return Err(DataDirError::Dir {
                path: path.to_path_buf(),
                reason: "is not a valid key; restore it from a backup (or delete it to make a new one, which voids the QR codes or staff PINs made with it)".into(),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(dir_err(e)),
    }
    let secret = make();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).map_err(dir_err)?;
    f.write_all(secret.as_bytes()).map_err(dir_err)?;
    f.sync_all().map_err(dir_err)?;
    Ok((secret, Some(path.to_path_buf())))
}

/// Create the data directory (0700) if needed.
pub(crate) fn prepare_data_dir(dir: &Path) -> Result<(), DataDirError> {
    std::fs::create_dir_all(dir).map_err(|e| DataDirError::Dir {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

pub fn open_store(config: &Config) -> Result<Store, DataDirError> {
    prepare_data_dir(&config.data_dir)?;
    let db = config.data_dir.join("db");
    let store = Store::open(&db, config.store_id.clone())?;
    store.watch_disk(&db, config.min_free_bytes);
    Ok(store)
}
