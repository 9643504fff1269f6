//! Validation of user-chosen names (topics, consumer groups, transactional ids) that become
//! file or directory names.

use crate::error::{LogError, Result};

/// Longest accepted name, as in Kafka.
pub const MAX_NAME_LEN: usize = 249;

/// Accepts names made of ASCII letters, digits, `.`, `_` and `-` (Kafka's rule), not `.`/`..`.
///
/// # Errors
/// [`LogError::InvalidName`] saying which rule the name breaks.
pub fn validate_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("must not be empty")
    } else if name.len() > MAX_NAME_LEN {
        Some("longer than 249 characters")
    } else if name == "." || name == ".." {
        Some("must not be '.' or '..'")
    } else if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
        Some("only ASCII letters, digits, '.', '_' and '-' are allowed")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(LogError::InvalidName { name: name.to_owned(), reason }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_kafka_style_names() {
        for ok in ["page_views", "a.b-c", "X1"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_paths_and_odd_characters() {
        for bad in ["", ".", "..", "a/b", "a b", "ü", &"x".repeat(250)] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }
}
