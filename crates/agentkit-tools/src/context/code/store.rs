//! The on-disk tag cache: one append-only file of `(content key, tags)`
//! records in a cache directory the caller chooses, never inside the
//! repository.
//!
//! File `tags-v<FORMAT>.bin`: the magic line, then records of a 16-byte key
//! (little-endian), a 4-byte length and the postcard-encoded [`FileTags`].
//! New tags are appended at the end of each refresh; a torn or corrupt tail
//! (a crash mid-write) ends the load there and the file is rewritten with
//! what was good. When the file holds more than twice the records in use it is
//! compacted (written to a temporary file, then renamed over). Changing the
//! queries or [`FileTags`] bumps [`FORMAT`], which starts a new file.

use std::collections::HashMap;
use std::io::{Read, Write};
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

    /// Reads every good record into `into`, one record at a time (the file
    /// is never held in memory whole).
    pub fn load(&mut self, into: &mut HashMap<u128, Arc<FileTags>>) {
        let file = match std::fs::File::open(&self.path) {
            Ok(file) => file,
            Err(err) => {
                if err.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(path = %self.path.display(), error = %err, "tag cache unreadable; starting empty");
                }
                self.rewrite = true;
                return;
            }
        };
        let mut left = file.metadata().map_or(0, |m| m.len());
        let mut reader = std::io::BufReader::new(file);
        let mut magic = [0u8; MAGIC.len()];
        if reader.read_exact(&mut magic).is_err() || magic != MAGIC {
            tracing::warn!(path = %self.path.display(), "tag cache has no header; starting empty");
            self.rewrite = true;
            return;
        }
        left = left.saturating_sub(MAGIC.len() as u64);
        let mut body = Vec::new();
        while left > 0 {
            let mut head = [0u8; 20];
            let Some((key, len)) = reader
                .read_exact(&mut head)
                .ok()
                .and_then(|()| split_head(&head))
                .filter(|(_, len)| left >= 20 && *len as u64 <= left - 20)
            else {
                tracing::warn!(path = %self.path.display(), "tag cache ends in a torn record; it will be rewritten");
                self.rewrite = true;
                break;
            };
            body.resize(len, 0);
            if reader.read_exact(&mut body).is_err() {
                tracing::warn!(path = %self.path.display(), "tag cache ends in a torn record; it will be rewritten");
                self.rewrite = true;
                break;
            }
            left -= 20 + len as u64;
            match postcard::from_bytes::<FileTags>(&body) {
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
        }
    }

    /// Appends `new` records, or rewrites the file with `live` when it is
    /// corrupt or mostly stale. Records are encoded one at a time into a
    /// buffered writer, so saving never holds a second copy of the cache in
    /// memory. Errors are logged: the cache only saves time.
    pub fn save<'a>(
        &mut self,
        new: impl ExactSizeIterator<Item = (u128, &'a FileTags)>,
        live: impl Iterator<Item = (u128, &'a FileTags)>,
        live_count: usize,
    ) {
        let added = new.len();
        let result = if self.rewrite || self.records + added > 2 * live_count + 256 {
            self.replace(live).map(|count| {
                self.records = count;
                self.rewrite = false;
            })
        } else if added > 0 {
            std::fs::OpenOptions::new()
                .append(true)
                .open(&self.path)
                .and_then(|file| write_records(std::io::BufWriter::new(file), new))
                .map(|count| self.records += count)
        } else {
            Ok(())
        };
        if let Err(err) = result {
            tracing::warn!(path = %self.path.display(), error = %err, "cannot write the tag cache; tags will be parsed again next time");
            self.rewrite = true;
        }
    }

    /// Writes a new file with the magic line and `records` (to a temporary
    /// file, renamed over the old one); returns how many were written.
    fn replace<'a>(
        &self,
        records: impl Iterator<Item = (u128, &'a FileTags)>,
    ) -> std::io::Result<usize> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self
            .path
            .with_extension(format!("tmp{}", std::process::id()));
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        out.write_all(MAGIC)?;
        let count = write_records(out, records)?;
        std::fs::rename(&tmp, &self.path)?;
        Ok(count)
    }
}

/// The key and body length of a record header.
fn split_head(head: &[u8; 20]) -> Option<(u128, usize)> {
    let key = u128::from_le_bytes(head[..16].try_into().ok()?);
    let len = u32::from_le_bytes(head[16..].try_into().ok()?) as usize;
    Some((key, len))
}

/// Writes `records` and flushes; returns how many were written (tags that do
/// not encode are left out).
fn write_records<'a>(
    mut out: impl Write,
    records: impl Iterator<Item = (u128, &'a FileTags)>,
) -> std::io::Result<usize> {
    let mut count = 0;
    for (key, tags) in records {
        let Ok(body) = postcard::to_stdvec(tags) else {
            continue;
        };
        let Ok(len) = u32::try_from(body.len()) else {
            continue;
        };
        out.write_all(&key.to_le_bytes())?;
        out.write_all(&len.to_le_bytes())?;
        out.write_all(&body)?;
        count += 1;
    }
    out.flush()?;
    Ok(count)
}
