//! Identifiers. Order and store ids are chosen by people and upstream
//! systems, so they are validated: they end up in MQTT topics and sled keys.
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must not be empty")]
    Empty,
    #[error("is {len} characters long; at most {max} are allowed")]
    TooLong { len: usize, max: usize },
    #[error("contains {found:?}; only letters, digits, '-', '_' and '.' are allowed")]
    BadChar { found: char },
    #[error("is not a ULID: {0}")]
    NotUlid(String),
}

fn check_name(s: &str, max: usize) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    let len = s.chars().count();
    if len > max {
        return Err(IdError::TooLong { len, max });
    }
    if let Some(found) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(IdError::BadChar { found });
    }
    Ok(())
}

macro_rules! name_id {
    ($(#[$doc:meta])* $name:ident, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const MAX_LEN: usize = $max;
            pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                check_name(&s, $max)?;
                Ok(Self(s))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::new(s)
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

name_id!(
    /// An order's id, given by whoever created the order (the cloud order
    /// service or a local API caller). Creation is idempotent on it.
    OrderId,
    64
);
impl OrderId {
    /// The store's own stream (catalog, stock counts, store open/closed).
    /// Ids starting with `_` are reserved for the node: no order may use one.
    pub fn store_stream() -> Self {
        OrderId("_store".to_string())
    }

    /// Whether this id names one of the node's own streams, not an order.
    pub fn is_reserved(&self) -> bool {
        self.0.starts_with('_')
    }
}

name_id!(
    /// The store this node serves; part of every topic and envelope.
    StoreId,
    32
);

/// A unique, time-ordered event or command id (a ULID).
///
/// Encoded as its 26-character string in JSON and as 16 raw bytes in
/// postcard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId(pub ulid::Ulid);

impl EventId {
    /// A fresh id from the clock and the thread's random generator.
    pub fn generate() -> Self {
        Self(ulid::Ulid::new())
    }
    pub fn from_bytes(b: [u8; 16]) -> Self {
        Self(ulid::Ulid::from_bytes(b))
    }
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_bytes()
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for EventId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        ulid::Ulid::from_string(s)
            .map(Self)
            .map_err(|e| IdError::NotUlid(e.to_string()))
    }
}

impl Serialize for EventId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(&self.0)
        } else {
            self.to_bytes().serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            s.parse().map_err(serde::de::Error::custom)
        } else {
            <[u8; 16]>::deserialize(d).map(Self::from_bytes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        let cases: &[(&str, Result<(), IdError>)] = &[
            ("A-100.b_2", Ok(())),
            ("", Err(IdError::Empty)),
            ("a/b", Err(IdError::BadChar { found: '/' })),
            ("a+", Err(IdError::BadChar { found: '+' })),
            ("é", Err(IdError::BadChar { found: 'é' })),
        ];
        for (input, want) in cases {
            assert_eq!(OrderId::new(*input).map(|_| ()), *want, "input {input:?}");
        }
        assert_eq!(
            StoreId::new("x".repeat(33)).map(|_| ()),
            Err(IdError::TooLong { len: 33, max: 32 })
        );
    }
}
