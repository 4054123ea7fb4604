//! Secret paths as agents send them: relative, inside the agent's own folder, and checked
//! before any Vault call so that no input can climb out of it. Both types check themselves
//! while they are deserialized (their serde and schema impls are in `ops::input`), so an
//! operation holding one holds a valid one. This file depends on std and thiserror only: the
//! fuzz target `secret_path` builds it on its own.

use std::fmt;

use thiserror::Error;

/// Longest accepted relative path, in bytes.
pub const MAX_PATH_LEN: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PathError {
    #[error("path is empty")]
    Empty,
    #[error("path is longer than {MAX_PATH_LEN} bytes")]
    TooLong,
    #[error("path must be relative (no leading '/')")]
    Absolute,
    #[error("path has an empty, '.' or '..' segment")]
    BadSegment,
    #[error("path may only contain letters, digits and - _ . @ + = , in '/'-separated segments")]
    BadCharacter,
}

/// What every path error says first, whichever face reports it: callers (and
/// the error mapping) tell a path error from other bad input by it.
pub const INVALID_PATH: &str = "invalid path: ";

/// A validated relative secret path such as `configs/demo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretPath(String);

impl SecretPath {
    pub fn parse(raw: &str) -> Result<Self, PathError> {
        if raw.is_empty() {
            return Err(PathError::Empty);
        }
        if raw.len() > MAX_PATH_LEN {
            return Err(PathError::TooLong);
        }
        if raw.starts_with('/') {
            return Err(PathError::Absolute);
        }
        // An allowlist rather than a blocklist: backslashes, '%' (encoded traversal), NUL,
        // control characters and whitespace all fall outside it.
        if !raw.bytes().all(|b| b == b'/' || is_segment_byte(b)) {
            return Err(PathError::BadCharacter);
        }
        if raw
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Err(PathError::BadSegment);
        }
        Ok(Self(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A folder to list: empty (the agent's root) or a relative path with an optional trailing '/'.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretPrefix(String);

impl SecretPrefix {
    pub fn parse(raw: &str) -> Result<Self, PathError> {
        let trimmed = raw.strip_suffix('/').unwrap_or(raw);
        if trimmed.is_empty() {
            return Ok(Self(String::new()));
        }
        let path = SecretPath::parse(trimmed)?;
        Ok(Self(format!("{}/", path.as_str())))
    }

    /// `""` or `"a/b/"`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The message serde reports for a path that does not parse; it starts with [`INVALID_PATH`].
#[derive(Debug, Error)]
#[error("{INVALID_PATH}{0}")]
pub struct InvalidPath(#[from] PathError);

impl fmt::Display for SecretPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_segment_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@' | b'+' | b'=' | b',')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_relative_paths() {
        for ok in [
            "demo",
            "configs/demo",
            "a/b/c.json",
            "db_password",
            "x@y+z=1,2",
            "..a/b..",
        ] {
            assert_eq!(SecretPath::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn prefixes() {
        for (raw, normal) in [("", ""), ("/", ""), ("a", "a/"), ("a/b/", "a/b/")] {
            assert_eq!(
                SecretPrefix::parse(raw).unwrap().as_str(),
                normal,
                "{raw:?}"
            );
        }
        for bad in ["../", "a//", "/a", "a/../", "%2e%2e/"] {
            assert!(SecretPrefix::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn refuses_everything_that_could_escape() {
        let long = "a".repeat(MAX_PATH_LEN + 1);
        let cases: &[(&str, PathError)] = &[
            ("", PathError::Empty),
            (&long, PathError::TooLong),
            ("/etc/passwd", PathError::Absolute),
            ("..", PathError::BadSegment),
            ("a/../b", PathError::BadSegment),
            ("a/./b", PathError::BadSegment),
            ("a//b", PathError::BadSegment),
            ("a/", PathError::BadSegment),
            ("%2e%2e/x", PathError::BadCharacter),
            ("a%2fb", PathError::BadCharacter),
            ("a\\..\\b", PathError::BadCharacter),
            ("a\0b", PathError::BadCharacter),
            ("a\nb", PathError::BadCharacter),
            ("a b", PathError::BadCharacter),
            ("ä", PathError::BadCharacter),
        ];
        for (raw, expected) in cases {
            assert_eq!(SecretPath::parse(raw).unwrap_err(), *expected, "{raw:?}");
        }
    }
}
