//! Registering a device: what every door (the CLI, the API, the manager
//! page) does the same way. The door makes the password and the
//! certificate here, the writer decides the RegisterDevice command (name,
//! namespace and compartments free?), and only then are the secrets handed
//! over — once, in a bundle for the integrator.
use protocol::{device_tenant, topic, Command, DeviceKind, StoreId};

use crate::domain::permissions::{self, CommandKind, Who};
use crate::pki::{DeviceCert, NodeCa, PkiError};

/// A device's credentials, before its registration is decided.
pub struct Registration {
    pub command: Command,
    pub name: String,
    pub kind: DeviceKind,
    pub tenant: String,
    pub password: String,
    pub cert: DeviceCert,
}

/// Make credentials for `name` and the command that registers them.
pub fn prepare(
    ca: &NodeCa,
    name: &str,
    kind: DeviceKind,
    compartments: Vec<String>,
) -> Result<Registration, PkiError> {
    let tenant = device_tenant(name);
    let (password, salt, password_hash) = crate::store::new_password();
    let cert = ca.issue_device(name, &tenant)?;
    Ok(Registration {
        command: Command::RegisterDevice {
            name: name.to_string(),
            kind,
            compartments,
            salt,
            password_hash,
            cert_sha256: cert.fingerprint.clone(),
        },
        name: name.to_string(),
        kind,
        tenant,
        password,
        cert,
    })
}

/// What a device of `kind` may send (command names as in JSON), from the
/// permission table, with the narrower rules that apply to it.
pub fn commands(kind: DeviceKind) -> Vec<String> {
    permissions::sendable_by(Who::Device(kind))
        .map(|c| match narrowed(kind, c) {
            Some(how) => format!("{} ({how})", c.name()),
            None => c.name().to_string(),
        })
        .collect()
}

/// How `services::commands::prepare` narrows a command the table lets a
/// device kind send.
fn narrowed(kind: DeviceKind, command: CommandKind) -> Option<&'static str> {
    match (kind, command) {
        (DeviceKind::Scanner, CommandKind::Stage) => Some("shelf, cold storage, freezer"),
        (DeviceKind::Locker, CommandKind::Stage | CommandKind::ReportLockerDoor) => {
            Some("its own compartments")
        }
        (DeviceKind::Locker, CommandKind::HandOver) => Some("orders in its own compartments"),
        (DeviceKind::Till, CommandKind::RecordReceipt) => Some("or POST /api/v1/till/receipts"),
        (DeviceKind::Kiosk, CommandKind::CreateOrder) => {
            Some("pay_at_pickup, priced from the catalog")
        }
        _ => None,
    }
}

impl Registration {
    /// One text file for the integrator: how to connect, then the CA
    /// certificate, the device's certificate and its private key (PEM
    /// readers skip the text before each block).
    pub fn bundle(&self, store: &StoreId, ca_pem: &str, broker: Option<&str>) -> String {
        let t = &self.tenant;
        let mut out = String::new();
        out.push_str(&format!(
            "storenode device bundle: {name} ({kind}) of store {store}\n\n",
            name = self.name,
            kind = self.kind.name()
        ));
        out.push_str("Keep this file secret: it holds the device's private key and password.\n\n");
        out.push_str(&format!(
            "Broker      mqtts://{}  (MQTT 3.1.1 over TLS; the client certificate below is required)\n",
            broker.unwrap_or("<this node>:8883")
        ));
        out.push_str(&format!("Username    {}\n", self.name));
        out.push_str(&format!("Password    {}\n", self.password));
        out.push_str(&format!(
            "Client id   any (the broker names it {t}.<id>)\n\nTopics (the broker allows nothing outside /tenants/{t}/):\n"
        ));
        out.push_str(&format!(
            "  publish    {}  JSON {{\"id\": …, \"command\": {{…}}}}\n",
            topic::tenant_command(t)
        ));
        out.push_str(&format!(
            "  subscribe  {}  the answer to each command\n",
            topic::tenant_reply(t)
        ));
        for ch in crate::domain::device::channels(self.kind) {
            out.push_str(&format!(
                "  subscribe  {}\n",
                topic::tenant_notify(t, ch.name())
            ));
        }
        let may = commands(self.kind);
        if may.is_empty() {
            out.push_str("\nCommands: none (this kind only listens).\n");
        } else {
            out.push_str(&format!("\nCommands: {}.\n", may.join(", ")));
        }
        out.push_str("\nSee docs/topics.md and docs/security.md.\n\n");
        out.push_str("CA certificate (trust the broker by it):\n");
        out.push_str(ca_pem);
        out.push_str("\nDevice certificate:\n");
        out.push_str(&self.cert.cert_pem);
        out.push_str("\nDevice private key:\n");
        out.push_str(&self.cert.key_pem);
        out
    }
}
