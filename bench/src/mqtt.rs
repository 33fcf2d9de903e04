//! Scenario: QoS1 throughput of the embedded broker (authentication on)
//! against Mosquitto started by the bench, same client and message size,
//! same run. (To be written.)
use anyhow::{bail, Result};
use serde_json::Value;

/// Run the comparison; a JSON object with both figures and their ratio.
pub async fn run(_seconds: u64, _message_bytes: usize) -> Result<Value> {
    bail!("broker scenario not written yet")
}
