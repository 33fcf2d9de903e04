//! The layers: built-in defaults < file < environment < flags, each
//! flattened to dotted keys and merged, remembering where each value
//! came from.
use std::collections::BTreeMap;
use std::path::Path;

use super::keys::{env_name, KEYS};
use super::{ConfigError, Source};

/// Raw values by key, each with where it came from.
#[derive(Debug, Default, Clone)]
pub struct Layers {
    values: BTreeMap<String, (String, Source)>,
}

impl Layers {
    /// Start from the built-in defaults.
    pub fn defaults() -> Self {
        let mut l = Layers::default();
        for k in KEYS {
            if let Some(d) = k.default {
                l.values
                    .insert(k.key.to_string(), (d.to_string(), Source::Default));
            }
        }
        l
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>, source: Source) {
        self.values.insert(key.to_string(), (value.into(), source));
    }

    /// Overlay a TOML file.
    pub fn file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        self.toml_text(&text, path)
    }

    /// Overlay TOML text (as if read from `path`).
    pub fn toml_text(&mut self, text: &str, path: &Path) -> Result<(), ConfigError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let at = e.span().map(|span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!("line {line} column {column}: ")
            });
            ConfigError::Syntax {
                path: path.to_path_buf(),
                reason: format!(
                    "{}{}",
                    at.unwrap_or_default(),
                    e.message().replace('\n', " ")
                ),
            }
        })?;
        let mut flat = Vec::new();
        flatten("", &toml::Value::Table(table), &mut flat);
        for (key, value) in flat {
            if !KEYS.iter().any(|k| k.key == key) {
                return Err(ConfigError::UnknownKey {
                    path: path.to_path_buf(),
                    key,
                    known: KEYS.iter().map(|k| k.key).collect::<Vec<_>>().join(", "),
                });
            }
            self.set(&key, value, Source::File(path.to_path_buf()));
        }
        Ok(())
    }

    /// Overlay `STORENODE_…` variables from `vars`.
    pub fn env(&mut self, vars: impl IntoIterator<Item = (String, String)>) {
        let vars: BTreeMap<String, String> = vars.into_iter().collect();
        for k in KEYS {
            let name = env_name(k.key);
            if let Some(v) = vars.get(&name) {
                self.set(k.key, v.clone(), Source::Env(name));
            }
        }
    }

    pub(super) fn get(&self, key: &str) -> Option<&(String, Source)> {
        self.values.get(key)
    }
}

fn flatten(prefix: &str, value: &toml::Value, out: &mut Vec<(String, String)>) {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        toml::Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}
