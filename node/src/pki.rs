//! The node's own small certificate authority for the store's devices.
//!
//! Created on first start in `data_dir/tls/` (the key with mode 0600). It
//! signs the broker's server certificate and one client certificate per
//! device, whose Organization (O) is the device's tenant id: rumqttd's TLS
//! listener reads it and confines the device to `/tenants/{tenant}/…`.
//! Nothing else trusts this CA, and it trusts nothing but itself.
//!
//! Validity starts on 2024-01-01, not "now": a Raspberry Pi has no clock
//! of its own and may boot with an older time than the one a certificate
//! was made at (see docs/security.md for rotation).
use std::io::Write as _;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("making a certificate: {0}")]
    Make(#[from] rcgen::Error),
}

/// The broker's certificate files, as rumqttd reads them.
#[derive(Debug, Clone)]
pub struct ServerFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A device's certificate and key (PEM).
#[derive(Debug, Clone)]
pub struct DeviceCert {
    pub cert_pem: String,
    pub key_pem: String,
    /// SHA-256 of the certificate (DER), hex: recorded with the device.
    pub fingerprint: String,
}

pub struct NodeCa {
    dir: PathBuf,
    key: KeyPair,
    cert: rcgen::Certificate,
    pem: String,
}

/// Device and server certificates are valid until the first of January
/// this many years after the year they are made in (by the machine's
/// clock, and never before 2024): a fixed end date would expire every
/// store's devices on the same day.
const DEVICE_YEARS: i32 = 12;

/// The year on whose first day a certificate made now stops being valid:
/// [`DEVICE_YEARS`] after this one.
fn device_end_year() -> i32 {
    let year = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .year();
    i32::from(year).max(2024) + DEVICE_YEARS
}

impl NodeCa {
    /// The CA of `data_dir`, created on first use.
    pub fn open(data_dir: &Path, store: &str) -> Result<NodeCa, PkiError> {
        let dir = data_dir.join("tls");
        std::fs::create_dir_all(&dir).map_err(|e| file_error(&dir, e))?;
        let key_path = dir.join("ca.key");
        let key = match std::fs::read_to_string(&key_path) {
            Ok(pem) => KeyPair::from_pem(&pem).map_err(|e| PkiError::File {
                path: key_path.clone(),
                reason: format!("not a PEM private key: {e}"),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = KeyPair::generate()?;
                write_private(&key_path, &key.serialize_pem())?;
                tracing::info!(path = %key_path.display(), "device CA created");
                key
            }
            Err(e) => return Err(file_error(&key_path, e)),
        };
        // The same subject and key every time: what it signs verifies
        // against ca.pem as first written.
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params
            .distinguished_name
            .push(DnType::CommonName, format!("storenode {store} device CA"));
        params
            .distinguished_name
            .push(DnType::OrganizationName, "storenode");
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2074, 1, 1);
        let cert = params.self_signed(&key)?;
        let pem_path = dir.join("ca.pem");
        let pem = match std::fs::read_to_string(&pem_path) {
            Ok(p) => p,
            Err(_) => {
                let p = cert.pem();
                write_public(&pem_path, &p)?;
                p
            }
        };
        Ok(NodeCa {
            dir,
            key,
            cert,
            pem,
        })
    }

    /// The CA certificate (PEM) devices trust the broker by.
    pub fn ca_pem(&self) -> &str {
        &self.pem
    }

    /// The broker's certificate for `names` (DNS names and addresses),
    /// made again when the names change.
    pub fn server_files(&self, names: &[String]) -> Result<ServerFiles, PkiError> {
        self.issue_server("server", names)
    }

    /// The HTTPS certificate for `names` (`http.tls = node-ca`), made
    /// again when the names change.
    pub fn https_files(&self, names: &[String]) -> Result<ServerFiles, PkiError> {
        self.issue_server("https", names)
    }

    fn issue_server(&self, stem: &str, names: &[String]) -> Result<ServerFiles, PkiError> {
        let files = ServerFiles {
            ca: self.dir.join("ca.pem"),
            cert: self.dir.join(format!("{stem}.pem")),
            key: self.dir.join(format!("{stem}.key")),
        };
        let names_path = self.dir.join(format!("{stem}.names"));
        let wanted = names.join("\n");
        let current = std::fs::read_to_string(&names_path).ok();
        if current.as_deref() != Some(wanted.as_str())
            || !files.cert.exists()
            || !files.key.exists()
        {
            let mut params = CertificateParams::new(names.to_vec())?;
            params.distinguished_name.push(
                DnType::CommonName,
                names.first().map(String::as_str).unwrap_or("storenode"),
            );
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.not_before = rcgen::date_time_ymd(2024, 1, 1);
            params.not_after = rcgen::date_time_ymd(device_end_year(), 1, 1);
            let key = KeyPair::generate()?;
            let cert = params.signed_by(&key, &self.cert, &self.key)?;
            write_private(&files.key, &key.serialize_pem())?;
            write_public(&files.cert, &cert.pem())?;
            write_public(&names_path, &wanted)?;
        }
        Ok(files)
    }

    /// A client certificate for device `name` in tenant `tenant`.
    pub fn issue_device(&self, name: &str, tenant: &str) -> Result<DeviceCert, PkiError> {
        use sha2::Digest as _;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, tenant);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(device_end_year(), 1, 1);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.cert, &self.key)?;
        Ok(DeviceCert {
            fingerprint: hex::encode(sha2::Sha256::digest(cert.der())),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// The names the broker's certificate carries: loopback, this machine's
/// host name (and `.local`), and the configured ones.
pub fn server_names(configured: &[String]) -> Vec<String> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let h = h.trim().to_ascii_lowercase();
        if !h.is_empty() && h != "localhost" {
            names.push(format!("{h}.local"));
            names.push(h);
        }
    }
    for n in configured {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    names
}

/// A rustls server configuration (ring) from PEM files, for HTTPS.
pub fn https_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, PkiError> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |path: &Path, reason: String| PkiError::File {
        path: path.to_path_buf(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| bad(cert, format!("not a PEM certificate chain: {e}")))?;
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| bad(key, format!("not a PEM private key: {e}")))?;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| bad(cert, format!("certificate and key do not fit: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn file_error(path: &Path, e: std::io::Error) -> PkiError {
    PkiError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Write a secret: mode 0600 from the start, then renamed into place.
pub fn write_private(path: &Path, text: &str) -> Result<(), PkiError> {
    write_mode(path, text.as_bytes(), 0o600)
}

fn write_public(path: &Path, text: &str) -> Result<(), PkiError> {
    write_mode(path, text.as_bytes(), 0o644)
}

/// Write `bytes` to `path` with `mode`, atomically (a synced temporary
/// file renamed over it): the node's one way to write a file it owns.
pub fn write_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<(), PkiError> {
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(mode);
    }
    let _ = mode;
    let mut f = opts.open(&tmp).map_err(|e| file_error(&tmp, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| file_error(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| file_error(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_survives_a_restart_and_keeps_its_key_private() {
        let dir = tempfile::tempdir().expect("tmp");
        let a = NodeCa::open(dir.path(), "s1").expect("create");
        let device = a.issue_device("locker-1", "locker1").expect("issue");
        assert!(device.cert_pem.contains("BEGIN CERTIFICATE"));
        assert_eq!(device.fingerprint.len(), 64);
        let b = NodeCa::open(dir.path(), "s1").expect("reopen");
        assert_eq!(a.ca_pem(), b.ca_pem(), "ca.pem is kept");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join("tls/ca.key"))
                .expect("key")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn the_server_certificate_is_made_again_when_its_names_change() {
        let dir = tempfile::tempdir().expect("tmp");
        let ca = NodeCa::open(dir.path(), "s1").expect("create");
        let f = ca.server_files(&["localhost".into()]).expect("first");
        let first = std::fs::read_to_string(&f.cert).expect("read");
        ca.server_files(&["localhost".into()]).expect("same");
        assert_eq!(std::fs::read_to_string(&f.cert).expect("read"), first);
        ca.server_files(&["localhost".into(), "10.0.0.5".into()])
            .expect("changed");
        assert_ne!(std::fs::read_to_string(&f.cert).expect("read"), first);
    }
}
