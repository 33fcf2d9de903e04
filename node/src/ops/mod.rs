//! The operator's commands: `init`, `backup`, `restore`, `doctor`.
pub mod client;
pub mod doctor;
pub mod init;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::data_dir::{open_store, pickup_keys, prepare_data_dir, DataDirError};
use crate::store::backup::{self, BackupError, FileError, Summary};
use crate::store::writer::EventSink;
use crate::store::{StoreError, Writer, Written};

/// Why an operator's command (`backup`, `restore`, `init`) did nothing;
/// the text is what the command line prints after the command's name.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("there is no database in {} (check data_dir and --config)", .0.display())]
    NoDatabase(PathBuf),
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    #[error(transparent)]
    Backup(#[from] BackupError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Offline(#[from] OfflineError),
    #[error(transparent)]
    Pki(#[from] crate::pki::PkiError),
    #[error(transparent)]
    Pin(#[from] crate::pin::PinError),
    #[error("the node is running (it holds the database) but: {0}")]
    NodeUnreachable(client::ClientError),
    #[error(
        "{0}: stop the node first (systemctl stop storenode); a restore replaces its database"
    )]
    RestoreWhileRunning(BackupError),
    #[error("{} exists; give --force to write it again (the data directory is never replaced)", .0.display())]
    ConfigFileExists(PathBuf),
    #[error("{} already holds store {store} (log head {head}); init makes new stores only. Restore a backup with `storenode restore`, or use another data_dir", .dir.display())]
    StoreExists {
        dir: PathBuf,
        store: String,
        head: u64,
    },
    #[error("{0}")]
    Rejected(crate::domain::Rejection),
    #[error("adding the first manager: unexpected outcome {0}")]
    Unexpected(String),
    #[error("starting a runtime: {0}")]
    Runtime(std::io::Error),
}

/// Why a command applied with the node stopped was not applied.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the store writer stopped: {0}")]
    Writer(String),
}

/// Take a backup of the store into `out`: through the running node when it
/// holds the database (online, between two group commits), else directly.
/// The file is written beside `out` and moved there once it is complete
/// and checked whole.
pub fn backup(config: &Config, out: &Path) -> Result<(Summary, bool), OpsError> {
    let db = config.data_dir.join("db");
    if !db.exists() {
        return Err(OpsError::NoDatabase(db));
    }
    let partial = out.with_extension("partial");
    let result = match open_store(config) {
        Ok(store) => offline_backup(config, &store, &partial).map(|()| false),
        Err(DataDirError::Store(StoreError::Locked { .. })) => {
            online_backup(config, &partial).map(|()| true)
        }
        Err(e) => Err(e.into()),
    };
    let checked = result.and_then(|online| Ok(backup::check(&partial).map(|s| (s, online))?));
    match checked {
        Ok(done) => {
            std::fs::rename(&partial, out).map_err(FileError::at(out))?;
            Ok(done)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

fn offline_backup(config: &Config, store: &crate::store::Store, to: &Path) -> Result<(), OpsError> {
    let file = backup::private_file(to)?;
    store.backup(&config.data_dir, &file)?;
    file.sync_all().map_err(FileError::at(to))?;
    Ok(())
}

fn online_backup(config: &Config, to: &Path) -> Result<(), OpsError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(OpsError::Runtime)?;
    rt.block_on(async {
        let token = client::token(config).map_err(OpsError::NodeUnreachable)?;
        let mut answer = client::get(config, "/api/v1/backup", Some(&token))
            .await
            .map_err(OpsError::NodeUnreachable)?;
        let mut file = backup::private_file(to)?;
        while let Some(chunk) = answer.chunk().await {
            let chunk = chunk.map_err(OpsError::NodeUnreachable)?;
            file.write_all(&chunk).map_err(FileError::at(to))?;
        }
        file.sync_all().map_err(FileError::at(to))?;
        Ok(())
    })
}

/// Restore the backup at `from` into the configured data directory (node
/// stopped); the result is checked against its log.
pub fn restore(config: &Config, from: &Path, force: bool) -> Result<backup::Restored, OpsError> {
    prepare_data_dir(&config.data_dir)?;
    backup::restore(from, &config.data_dir, &config.store_id, force).map_err(|e| match e {
        e @ BackupError::Store(StoreError::Locked { .. }) => OpsError::RestoreWhileRunning(e),
        other => other.into(),
    })
}

/// Apply one command with the node stopped (CLI import): the same writer,
/// rules and durability as the running node, with nobody to publish to.
pub fn offline_command(
    config: &Config,
    command: protocol::Command,
) -> Result<Written, OfflineError> {
    let principal = crate::services::commands::Principal::Cli;
    struct Nobody;
    impl EventSink for Nobody {
        fn publish(&mut self, _topic: String, _payload: Vec<u8>) {}
    }
    let store = open_store(config)?;
    let rules = crate::services::commands::Rules {
        keys: Arc::new(pickup_keys(config)?),
        policy: config.policy,
    };
    let (writer, handle) = Writer::new(
        store.clone(),
        &config.data_dir.join("db"),
        Nobody,
        config.durability,
        config.max_batch,
        Duration::ZERO,
        Arc::new(crate::metrics::Metrics::new()),
    )?;
    let thread = std::thread::spawn(move || writer.run());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| OfflineError::Writer(e.to_string()))?;
    let req = crate::services::commands::prepare(command, &principal, None, &rules, &store)
        .map_err(|e| OfflineError::Writer(e.to_string()))?;
    let written = runtime.block_on(async {
        let out = handle.write(req).await;
        handle.close().await;
        out
    });
    thread
        .join()
        .map_err(|_| OfflineError::Writer("writer thread panicked".into()))??;
    Ok(written?)
}
