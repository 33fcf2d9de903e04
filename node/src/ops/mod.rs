//! The operator's commands: `init`, `backup`, `restore`, `doctor`.
pub mod client;
pub mod doctor;
pub mod init;

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::data_dir::{open_store, pickup_keys, prepare_data_dir, DataDirError};
use crate::store::backup::{self, BackupError, Summary};
use crate::store::writer::EventSink;
use crate::store::{StoreError, Writer, Written};

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
pub fn backup(config: &Config, out: &Path) -> Result<(Summary, bool), String> {
    let db = config.data_dir.join("db");
    if !db.exists() {
        return Err(format!(
            "there is no database in {} (check data_dir and --config)",
            db.display()
        ));
    }
    let partial = out.with_extension("partial");
    let result = match open_store(config) {
        Ok(store) => {
            let file = backup::private_file(&partial)?;
            store
                .backup(&config.data_dir, &file)
                .map_err(|e| e.to_string())
                .and_then(|_| file.sync_all().map_err(|e| e.to_string()))
                .map(|()| false)
        }
        Err(DataDirError::Store(StoreError::Locked { .. })) => {
            online_backup(config, &partial).map(|()| true)
        }
        Err(e) => Err(e.to_string()),
    };
    let checked = result.and_then(|online| {
        backup::check(&partial)
            .map(|s| (s, online))
            .map_err(|e| e.to_string())
    });
    match checked {
        Ok(done) => {
            std::fs::rename(&partial, out).map_err(|e| format!("{}: {e}", out.display()))?;
            Ok(done)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

fn online_backup(config: &Config, to: &Path) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let token = client::token(config).map_err(|e| e.to_string())?;
        let mut answer = client::get(config, "/api/v1/backup", Some(&token))
            .await
            .map_err(|e| format!("the node is running (it holds the database) but: {e}"))?;
        let mut file = backup::private_file(to)?;
        while let Some(chunk) = answer.chunk().await {
            file.write_all(&chunk.map_err(|e| e.to_string())?)
                .map_err(|e| format!("{}: {e}", to.display()))?;
        }
        file.sync_all()
            .map_err(|e| format!("{}: {e}", to.display()))
    })
}

/// Restore the backup at `from` into the configured data directory (node
/// stopped); the result is checked against its log.
pub fn restore(config: &Config, from: &Path, force: bool) -> Result<backup::Restored, String> {
    prepare_data_dir(&config.data_dir).map_err(|e| e.to_string())?;
    backup::restore(from, &config.data_dir, &config.store_id, force).map_err(|e| match e {
        BackupError::Store(StoreError::Locked { .. }) => format!(
            "{e}: stop the node first (systemctl stop storenode); a restore replaces its database"
        ),
        other => other.to_string(),
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
