//! The on-disk tag cache: one append-only file of `(content key, tags)`
//! records in a cache directory the caller chooses, never inside the
//! repository.
//!
//! File `tags-v<FORMAT>.bin`: the magic line, then records of a 16-byte key
//! (little-endian), a 4-byte length and the postcard-encoded [`FileTags`].
//! New tags are appended in one write per refresh; a torn or corrupt tail
//! (a crash mid-write) ends the load there and the file is rewritten with
//! what was good. When the file holds more than twice the records in use it is
//! compacted (written to a temporary file, then renamed over). Changing the
//! queries or [`FileTags`] bumps [`FORMAT`], which starts a new file.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::tags::FileTags;

/// The version of the record format and of the queries that produce the tags.
pub(crate) const FORMAT: u32 = 1;
const MAGIC: &[u8] = b"agentkit tags\n";

/// The cache file and what the last load found in it.
pub(crate) struct DiskStore {
    path: PathBuf,
    /// Records in the file (live or not).
    records: usize,
    /// Whether the file must be rewritten (corrupt tail, or missing).
    rewrite: bool,
}

impl DiskStore {
    pub fn new(dir: &Path) -> Self {
        Self {
            path: dir.join(format!("tags-v{FORMAT}.bin")),
            records: 0,
            rewrite: false,
        }
    }

    /// Reads every good record into `into`.
    pub fn load(&mut self, into: &mut HashMap<u128, Arc<FileTags>>) {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(err) => {
                if err.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(path = %self.path.display(), error = %err, "tag cache unreadable; starting empty");
                }
                self.rewrite = true;
                return;
            }
        };
        let Some(mut rest) = bytes.strip_prefix(MAGIC) else {
            tracing::warn!(path = %self.path.display(), "tag cache has no header; starting empty");
            self.rewrite = true;
            return;
        };
        while !rest.is_empty() {
            let Some((key, len, body)) = split_record(rest) else {
                tracing::warn!(path = %self.path.display(), "tag cache ends in a torn record; it will be rewritten");
                self.rewrite = true;
                break;
            };
            match postcard::from_bytes::<FileTags>(&body[..len]) {
                Ok(tags) => {
                    into.insert(key, Arc::new(tags));
                    self.records += 1;
                }
                Err(err) => {
                    tracing::warn!(path = %self.path.display(), error = %err, "tag cache record does not decode; it will be rewritten");
                    self.rewrite = true;
                    break;
                }
            }
            rest = &body[len..];
        }
    }

    /// Appends `new` records, or rewrites the file with `live` when it is
    /// corrupt or mostly stale. Errors are logged: the cache only saves time.
    pub fn save<'a>(
        &mut self,
        new: impl Iterator<Item = (u128, &'a FileTags)>,
        live: impl Iterator<Item = (u128, &'a FileTags)>,
        live_count: usize,
    ) {
        let mut buffer = Vec::new();
        let mut added = 0;
        for (key, tags) in new {
            added += encode(&mut buffer, key, tags);
        }
        let result = if self.rewrite || self.records + added > 2 * live_count + 256 {
            let mut all = MAGIC.to_vec();
            let mut count = 0;
            for (key, tags) in live {
                count += encode(&mut all, key, tags);
            }
            self.records = count;
            self.rewrite = false;
            self.replace(&all)
        } else if added > 0 {
            self.records += added;
            std::fs::OpenOptions::new()
                .append(true)
                .open(&self.path)
                .and_then(|mut file| file.write_all(&buffer))
        } else {
            Ok(())
        };
        if let Err(err) = result {
            tracing::warn!(path = %self.path.display(), error = %err, "cannot write the tag cache; tags will be parsed again next time");
            self.rewrite = true;
        }
    }

    fn replace(&self, bytes: &[u8]) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self
            .path
            .with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &self.path)
    }
}

fn split_record(rest: &[u8]) -> Option<(u128, usize, &[u8])> {
    let key = u128::from_le_bytes(rest.get(..16)?.try_into().ok()?);
    let len = u32::from_le_bytes(rest.get(16..20)?.try_into().ok()?) as usize;
    let body = rest.get(20..)?;
    (body.len() >= len).then_some((key, len, body))
}

/// Appends one record; returns 1, or 0 when the tags do not encode.
fn encode(buffer: &mut Vec<u8>, key: u128, tags: &FileTags) -> usize {
    match postcard::to_stdvec(tags) {
        Ok(body) if u32::try_from(body.len()).is_ok() => {
            buffer.extend_from_slice(&key.to_le_bytes());
            buffer.extend_from_slice(&(body.len() as u32).to_le_bytes());
            buffer.extend_from_slice(&body);
            1
        }
        _ => 0,
    }
}
