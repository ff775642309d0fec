//! Reading the TOML file: errors that name the file, the line and the key.

use std::path::Path;

use serde::de::DeserializeOwned;

use super::ConfigError;

/// Parses `text` (read from `path`) into `T`, naming the failing key.
pub(super) fn parse<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, ConfigError> {
    let deserializer = toml::Deserializer::parse(text).map_err(|err| {
        let message = err.message().trim().to_string();
        error_at(path, text, err.span(), message)
    })?;
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let key = err.path().to_string();
        let inner = err.into_inner();
        let message = if key.is_empty() || key == "." {
            inner.message().trim().to_string()
        } else {
            format!("key `{key}`: {}", inner.message().trim())
        };
        error_at(path, text, inner.span(), message)
    })
}

fn error_at(
    path: &Path,
    text: &str,
    span: Option<std::ops::Range<usize>>,
    message: String,
) -> ConfigError {
    let (line, column) = span.map_or((1, 1), |span| location(text, span.start));
    ConfigError::Parse {
        path: path.to_path_buf(),
        line,
        column,
        message,
    }
}

/// The 1-based line and column of byte `offset` in `text`.
fn location(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_one_based() {
        assert_eq!(location("a\nbc\n", 0), (1, 1));
        assert_eq!(location("a\nbc\n", 3), (2, 2));
        assert_eq!(location("a", 99), (1, 2));
    }
}
