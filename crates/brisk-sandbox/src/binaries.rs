//! Finding the server binaries on this machine.

use std::path::{Path, PathBuf};

use crate::SandboxError;

/// The PostgreSQL server and client programs of one major version.
#[derive(Debug, Clone)]
pub struct PgBinaries {
    pub bindir: PathBuf,
    /// Major version, from the directory layout or `postgres --version`.
    pub major: u32,
}

impl PgBinaries {
    /// Finds the newest PostgreSQL installation.
    ///
    /// Order: `BRISK_PG_BINDIR`, then Debian's `/usr/lib/postgresql/NN/bin` (newest first),
    /// then `postgres` on `PATH`. Debian keeps `initdb` and `postgres` out of `PATH`, which is
    /// why the versioned directories come before it.
    pub fn find() -> Result<PgBinaries, SandboxError> {
        if let Some(dir) = std::env::var_os("BRISK_PG_BINDIR") {
            return Self::at(PathBuf::from(dir));
        }
        let mut versioned: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let major = entry.file_name().to_str()?.parse::<u32>().ok()?;
                let bindir = entry.path().join("bin");
                bindir.join("postgres").is_file().then_some((major, bindir))
            })
            .collect();
        versioned.sort();
        if let Some((_, bindir)) = versioned.pop() {
            return Self::at(bindir);
        }
        match find_on_path("postgres") {
            Some(postgres) => {
                let bindir = postgres.parent().map(Path::to_path_buf).unwrap_or_default();
                Self::at(bindir)
            }
            None => Err(SandboxError::MissingBinary {
                binary: "postgres",
                package: "postgresql",
            }),
        }
    }

    fn at(bindir: PathBuf) -> Result<PgBinaries, SandboxError> {
        for binary in ["postgres", "initdb", "psql", "pg_isready"] {
            if !bindir.join(binary).is_file() {
                let package = if binary == "psql" || binary == "pg_isready" {
                    "postgresql-client"
                } else {
                    "postgresql"
                };
                return Err(SandboxError::MissingBinary { binary, package });
            }
        }
        let output = std::process::Command::new(bindir.join("postgres"))
            .arg("--version")
            .output()
            .map_err(SandboxError::io("running postgres --version"))?;
        // "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
        let text = String::from_utf8_lossy(&output.stdout);
        let major = text
            .split_whitespace()
            .nth(2)
            .and_then(|v| v.split('.').next())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| SandboxError::Command {
                what: "postgres --version".into(),
                detail: format!("unexpected output {text:?}"),
            })?;
        Ok(PgBinaries { bindir, major })
    }

    pub fn path(&self, program: &str) -> PathBuf {
        self.bindir.join(program)
    }

    /// Whether the HypoPG extension is installed for this major version.
    pub fn has_hypopg(&self) -> bool {
        Path::new(&format!(
            "/usr/share/postgresql/{}/extension/hypopg.control",
            self.major
        ))
        .is_file()
            || self
                .bindir
                .parent()
                .map(|p| p.join("share/extension/hypopg.control").is_file())
                .unwrap_or(false)
    }
}

pub(crate) fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}
