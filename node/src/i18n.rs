//! The message catalog: every text the staff pages show. Below both the
//! configuration, which checks a chain's own texts before anything binds,
//! and the pages, which show them.
//!
//! One TOML file per language, kept with the pages (`web/i18n/en.toml`,
//! `web/i18n/de.toml`) and built into the binary; `web.language` picks
//! one, and `web.messages` may name a file with a chain's own texts (same
//! keys) laid over it. English fills any key a translation lacks. Texts
//! may name values in braces (`"{n} lines"`), which [`Messages::f`] fills
//! in.
use std::collections::HashMap;
use std::fmt::Display;
use std::sync::Arc;

const EN: &str = include_str!("web/i18n/en.toml");
const DE: &str = include_str!("web/i18n/de.toml");

/// A language the node ships texts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    En,
    De,
}

impl Language {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "en" => Some(Language::En),
            "de" => Some(Language::De),
            _ => None,
        }
    }

    /// The `lang` attribute of the pages.
    pub fn tag(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::De => "de",
        }
    }
}

/// The texts in force.
#[derive(Clone)]
pub struct Messages {
    language: Language,
    texts: Arc<HashMap<String, String>>,
}

impl std::fmt::Debug for Messages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Messages({}, {} texts)",
            self.language.tag(),
            self.texts.len()
        )
    }
}

/// Flatten a TOML catalog into dotted keys; every value must be text.
fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
    fn walk(prefix: &str, v: &toml::Value, out: &mut Vec<(String, String)>) -> Result<(), String> {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out)?;
                }
                Ok(())
            }
            toml::Value::String(s) => {
                out.push((prefix.to_string(), s.clone()));
                Ok(())
            }
            _ => Err(format!("`{prefix}` must be text")),
        }
    }
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| e.message().to_string())?;
    let mut out = Vec::new();
    walk("", &toml::Value::Table(table), &mut out)?;
    Ok(out)
}

/// The `{name}`s a text fills in, sorted.
fn placeholders(text: &str) -> Vec<&str> {
    let mut out: Vec<&str> = text
        .split('{')
        .skip(1)
        .filter_map(|r| r.split_once('}').map(|(name, _)| name))
        .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

fn builtin(text: &str) -> HashMap<String, String> {
    // The built-in catalogs are checked by this module's tests.
    parse(text).unwrap_or_default().into_iter().collect()
}

impl Messages {
    /// The built-in texts of `language` (English where it lacks one).
    pub fn new(language: Language) -> Self {
        let mut texts = builtin(EN);
        if language == Language::De {
            texts.extend(builtin(DE));
        }
        Messages {
            language,
            texts: Arc::new(texts),
        }
    }

    /// Lay a chain's own texts over these. Refuses a key the catalog does
    /// not have (a typo would silently show the old text) and a text that
    /// drops or invents a `{value}`.
    pub fn overlay(&mut self, text: &str) -> Result<(), String> {
        let mut texts = (*self.texts).clone();
        for (key, value) in parse(text)? {
            let Some(base) = texts.get(&key) else {
                return Err(format!("unknown text key `{key}`"));
            };
            if placeholders(base) != placeholders(&value) {
                return Err(format!(
                    "`{key}` must fill in {:?}, like the built-in text",
                    placeholders(base)
                ));
            }
            texts.insert(key, value);
        }
        self.texts = Arc::new(texts);
        Ok(())
    }

    pub fn language(&self) -> Language {
        self.language
    }

    /// The text under `key` (the key itself if the catalog lacks it, which
    /// the tests rule out for every key the code uses).
    pub fn t<'a>(&'a self, key: &'a str) -> &'a str {
        self.texts.get(key).map_or(key, String::as_str)
    }

    /// A text about `n` things: `{key}_one` when `n` is 1 and the catalog
    /// has it (English "1 line", German "1 Position"), else `key`; `{n}`
    /// and `values` filled in.
    pub fn n(&self, key: &str, n: u64, values: &[(&str, &dyn Display)]) -> String {
        let one = format!("{key}_one");
        let key = if n == 1 && self.texts.contains_key(&one) {
            one.as_str()
        } else {
            key
        };
        let mut all: Vec<(&str, &dyn Display)> = vec![("n", &n)];
        all.extend_from_slice(values);
        self.f(key, &all)
    }

    /// The text under `key` with its `{name}`s filled in.
    pub fn f(&self, key: &str, values: &[(&str, &dyn Display)]) -> String {
        let mut out = self.t(key).to_string();
        for (name, value) in values {
            out = out.replace(&format!("{{{name}}}"), &value.to_string());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `.t("…")` and `.f("…"` in the web layer's sources names a key
    /// that both catalogs have, and both catalogs have the same keys with
    /// the same `{values}`.
    #[test]
    fn catalogs_are_complete_and_agree() {
        let en: HashMap<String, String> = parse(EN).expect("en.toml parses").into_iter().collect();
        let de: HashMap<String, String> = parse(DE).expect("de.toml parses").into_iter().collect();
        let mut missing_de: Vec<&String> = en.keys().filter(|k| !de.contains_key(*k)).collect();
        let mut extra_de: Vec<&String> = de.keys().filter(|k| !en.contains_key(*k)).collect();
        missing_de.sort();
        extra_de.sort();
        assert!(missing_de.is_empty(), "de.toml lacks {missing_de:?}");
        assert!(extra_de.is_empty(), "de.toml has unknown {extra_de:?}");
        for (k, v) in &en {
            assert_eq!(
                placeholders(v),
                placeholders(&de[k]),
                "{k}: the translations fill in different values"
            );
        }
        // Every string literal of the web layer that looks like a key of
        // one of the catalog's sections ("pick.claim", "state.ready") must
        // be in the catalog: that covers keys picked in a `match` too.
        let sections: Vec<&str> = en.keys().filter_map(|k| k.split('.').next()).collect();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web");
        let mut used = Vec::new();
        collect_keys(&dir, &sections, &mut used);
        assert!(
            used.len() > 300,
            "found only {} text keys in use",
            used.len()
        );
        let unknown: Vec<&(String, String)> =
            used.iter().filter(|(k, _)| !en.contains_key(k)).collect();
        assert!(
            unknown.is_empty(),
            "keys used but not in en.toml: {unknown:?}"
        );
    }

    /// (key, file) for every key-like literal in `dir`'s sources.
    fn collect_keys(dir: &std::path::Path, sections: &[&str], out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                collect_keys(&path, sections, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("read source");
                let mut parts = text.split('"');
                parts.next();
                // Every other piece is inside quotes.
                while let (Some(lit), _) = (parts.next(), parts.next()) {
                    let key_like = lit.contains('.')
                        && lit.chars().all(|c| {
                            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.'
                        })
                        && lit
                            .split('.')
                            .next()
                            .is_some_and(|ns| sections.contains(&ns))
                        && !lit.ends_with('.');
                    if key_like {
                        out.push((lit.to_string(), path.display().to_string()));
                    }
                }
            }
        }
    }

    #[test]
    fn overlay_checks_keys_and_values() {
        let mut m = Messages::new(Language::En);
        let key = "login.title";
        assert!(m.t(key) != key);
        m.overlay("[login]\ntitle = \"Anmelden bitte\"\n")
            .expect("known key");
        assert_eq!(m.t(key), "Anmelden bitte");
        let e = m.overlay("[login]\ntitel = \"x\"\n").expect_err("typo");
        assert!(e.contains("unknown text key `login.titel`"), "{e}");
        let e = m
            .overlay("[pick]\nlines = \"lines\"\n")
            .expect_err("dropped value");
        assert!(e.contains("must fill in [\"n\"]"), "{e}");
        let de = Messages::new(Language::De);
        assert_eq!(de.n("pick.lines", 3, &[]), "3 Positionen");
        assert_eq!(de.n("pick.lines", 1, &[]), "1 Position");
        assert_eq!(
            Messages::new(Language::En).n("pick.units", 1, &[]),
            "1 item"
        );
    }
}
