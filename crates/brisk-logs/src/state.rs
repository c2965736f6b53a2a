//! The incremental mode's memory (`--state FILE`): per log file, its identity (device,
//! inode, a hash of its first bytes) and the offset read up to, so the next run reads only
//! what was appended. A file whose identity changed (rotated: a new file at the same path),
//! or that is shorter than the offset (truncated in place, logrotate's `copytruncate`), is
//! read from its start.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::LogError;

/// Bytes of a file's start hashed into its identity: a new file at the same path (on a file
/// system that reuses the inode) has another first line, its first message's time.
const HEAD: u64 = 4096;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    pub files: Vec<FileState>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileState {
    pub path: String,
    pub device: u64,
    pub inode: u64,
    /// xxh3 of the first `min(offset, 4096)` bytes.
    pub head: String,
    /// Read up to here: the end of the last whole line.
    pub offset: u64,
}

/// The file's device and inode.
pub fn identity(path: &Path) -> Option<(u64, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        Some((0, 0))
    }
}

/// The hash of the first `min(len, HEAD)` bytes.
pub fn head(path: &Path, len: u64) -> Option<String> {
    use std::io::Read;
    let mut buf = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(len.min(HEAD))
        .read_to_end(&mut buf)
        .ok()?;
    Some(format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&buf)))
}

impl State {
    /// Reads the state file; a missing one is an empty state (the first run).
    pub fn load(path: &Path) -> Result<State, LogError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| LogError::State {
                path: path.display().to_string(),
                reason: format!("it is not a brisk logs state file ({e}); delete it to start over"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(LogError::State {
                path: path.display().to_string(),
                reason: format!("cannot read it: {e}"),
            }),
        }
    }

    /// Writes it through a temporary file renamed over the old one, so a run that stops
    /// half-way leaves the previous state whole.
    pub fn save(&self, path: &Path) -> Result<(), LogError> {
        let failed = |e: std::io::Error| LogError::State {
            path: path.display().to_string(),
            reason: format!("cannot write it: {e}"),
        };
        let temporary = path.with_extension("tmp");
        let text = serde_json::to_vec_pretty(self).map_err(|e| failed(std::io::Error::other(e)))?;
        std::fs::write(&temporary, text).map_err(failed)?;
        std::fs::rename(&temporary, path).map_err(failed)
    }

    /// Where to start reading `path`: the remembered offset when it is the same file and
    /// not shorter, else 0.
    pub fn resume(&self, path: &Path) -> u64 {
        let name = path.display().to_string();
        let Some(known) = self.files.iter().find(|f| f.path == name) else {
            return 0;
        };
        let size = std::fs::metadata(path).map_or(0, |m| m.len());
        let same = identity(path) == Some((known.device, known.inode))
            && size >= known.offset
            && head(path, known.offset).as_deref() == Some(known.head.as_str());
        if same {
            known.offset
        } else {
            0
        }
    }
}
