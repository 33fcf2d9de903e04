//! Encodings. postcard with a leading format-version byte for node-internal
//! and node↔cloud traffic; JSON for anything a device or browser sees.
//! Decoding never panics: every failure is a [`DecodeError`].
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The first byte of every postcard payload.
pub const FORMAT_VERSION: u8 = 1;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty payload")]
    Empty,
    #[error("unsupported format version {found} (this build reads version {FORMAT_VERSION})")]
    Version { found: u8 },
    #[error("malformed binary payload: {0}")]
    Postcard(String),
    #[error("{trailing} unexpected bytes after the message")]
    Trailing { trailing: usize },
    #[error("invalid JSON at line {line} column {column}: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
}

/// Encode as postcard, prefixed by [`FORMAT_VERSION`].
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let out = vec![FORMAT_VERSION];
    // Serializing our own types into a Vec cannot fail: they hold no
    // maps with non-string keys and no unsized sequences.
    match postcard::to_extend(value, out) {
        Ok(v) => v,
        Err(e) => unreachable!("postcard encoding of a protocol type failed: {e}"),
    }
}

/// Decode a postcard payload written by [`encode`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let (&version, body) = bytes.split_first().ok_or(DecodeError::Empty)?;
    if version != FORMAT_VERSION {
        return Err(DecodeError::Version { found: version });
    }
    let (value, rest) =
        postcard::take_from_bytes(body).map_err(|e| DecodeError::Postcard(e.to_string()))?;
    if !rest.is_empty() {
        return Err(DecodeError::Trailing {
            trailing: rest.len(),
        });
    }
    Ok(value)
}

/// Encode as JSON (for devices and browsers).
pub fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    match serde_json::to_vec(value) {
        Ok(v) => v,
        Err(e) => unreachable!("JSON encoding of a protocol type failed: {e}"),
    }
}

/// Decode JSON, with the position and reason of the first problem.
pub fn from_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    serde_json::from_slice(bytes).map_err(|e| {
        let (line, column) = (e.line(), e.column());
        // serde_json's text ends with the position, which we report apart.
        let text = e.to_string();
        let suffix = format!(" at line {line} column {column}");
        let message = text.strip_suffix(&suffix).unwrap_or(&text).to_string();
        DecodeError::Json {
            line,
            column,
            message,
        }
    })
}
