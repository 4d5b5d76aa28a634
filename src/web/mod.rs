//! The user's own static files, served by the relay from memory (`[web]`, `sluice --static DIR`).
//!
//! Contract:
//!
//! - **The reactor never touches the disk for them.** [`StaticFiles::load`] reads the whole
//!   directory once, on the thread that binds the reactor, before anything is served. A request
//!   is answered from memory; a file changed on disk is served as loaded until the relay
//!   restarts.
//! - **Memory is bounded**: at most `static_max_bytes` of file contents and [`MAX_FILES`] files;
//!   a directory over either is an error at start that names the file that crossed the bound.
//! - **Nothing outside the directory is served.** Only regular files inside it are loaded:
//!   symbolic links whose target is outside the directory are skipped (and logged), hidden
//!   files and directories (a name starting with `.`) are skipped, and special files (FIFOs,
//!   sockets, devices) are never opened. Requests are looked up in the loaded table by their
//!   decoded path; a path with a `.` or `..` segment, an encoded `/` or `\`, a backslash or a
//!   NUL byte is refused with `400` before any lookup.
//! - **Caching**: every file has a strong `ETag` (a hash of its contents) and a
//!   `Last-Modified` (its modification time when loaded); `If-None-Match` and
//!   `If-Modified-Since` are honoured with `304 Not Modified`. `Cache-Control: no-cache` makes
//!   browsers revalidate, so a restarted relay's new files are seen at once.

mod date;
mod mime;
pub(crate) mod serve;

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::config::WebConfig;

/// Most files loaded from a static directory.
pub const MAX_FILES: usize = 10_000;
/// Deepest directory nesting followed below the static directory.
const MAX_DEPTH: usize = 32;

/// One file, ready to answer with.
#[derive(Clone)]
pub(crate) struct File {
    pub(crate) body: Vec<u8>,
    pub(crate) content_type: &'static str,
    /// A strong entity tag, quoted: `"<16 hex digits of the SHA-256 of the contents>"`.
    pub(crate) etag: String,
    /// Modification time in whole seconds since the Unix epoch, when the file system has one.
    pub(crate) modified: Option<u64>,
}

/// A directory's files in memory, served under a URL prefix.
pub struct StaticFiles {
    prefix: String,
    dir: PathBuf,
    files: HashMap<String, File>,
    bytes: usize,
}

impl fmt::Debug for StaticFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticFiles")
            .field("prefix", &self.prefix)
            .field("dir", &self.dir)
            .field("files", &self.files.len())
            .field("bytes", &self.bytes)
            .finish()
    }
}

/// Why a static directory could not be loaded. Fix the directory or the `[web]` settings.
#[derive(Debug)]
pub enum StaticError {
    /// The directory, or a directory or file in it, could not be read.
    Read {
        /// What could not be read.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// `static_dir` is not a directory.
    NotADirectory(PathBuf),
    /// Loading this file would take the total over `static_max_bytes`.
    TooBig {
        /// The file that crossed the bound.
        path: PathBuf,
        /// Bytes loaded with it.
        total: u64,
        /// The bound (`static_max_bytes`).
        limit: usize,
    },
    /// Loading this file would take the count over [`MAX_FILES`].
    TooMany {
        /// The file that crossed the bound.
        path: PathBuf,
    },
}

impl fmt::Display for StaticError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StaticError::Read { path, source } => {
                write!(f, "static files: cannot read `{}`: {source}", path.display())
            }
            StaticError::NotADirectory(p) => {
                write!(f, "static files: `{}` is not a directory (web.static_dir)", p.display())
            }
            StaticError::TooBig { path, total, limit } => write!(
                f,
                "static files: `{}` takes the files loaded to {total} bytes, over \
                 web.static_max_bytes ({limit} bytes); raise the bound or serve it elsewhere",
                path.display()
            ),
            StaticError::TooMany { path } => write!(
                f,
                "static files: `{}` is file number {} and the most served is {MAX_FILES}",
                path.display(),
                MAX_FILES + 1
            ),
        }
    }
}

impl std::error::Error for StaticError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StaticError::Read { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl StaticFiles {
    /// Load the directory of `config.static_dir` (nothing when it is not set). Runs on the
    /// calling thread and reads every file.
    pub fn load(config: &WebConfig) -> Result<Option<StaticFiles>, StaticError> {
        let Some(dir) = &config.static_dir else { return Ok(None) };
        let root = fs::canonicalize(dir)
            .map_err(|source| StaticError::Read { path: dir.clone(), source })?;
        if !root.is_dir() {
            return Err(StaticError::NotADirectory(dir.clone()));
        }
        let mut loader = Loader {
            root: &root,
            shown: dir,
            limit: config.static_max_bytes,
            files: HashMap::new(),
            bytes: 0,
            walking: Vec::new(),
        };
        loader.walk(&root, "", 0)?;
        let files = StaticFiles {
            prefix: config.static_prefix.clone(),
            dir: dir.clone(),
            bytes: loader.bytes,
            files: loader.files,
        };
        log::info!(
            "static files: {} files ({} bytes) from {} under {}",
            files.files.len(),
            files.bytes,
            dir.display(),
            files.prefix
        );
        Ok(Some(files))
    }

    /// The URL prefix, e.g. `/app/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// How many files were loaded.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether no file was loaded.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Total bytes of the files loaded.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn get(&self, path: &str) -> Option<&File> {
        self.files.get(path)
    }
}

/// The directory walk of [`StaticFiles::load`].
struct Loader<'a> {
    /// The canonical directory: nothing outside it is loaded.
    root: &'a Path,
    /// The directory as configured, for messages.
    shown: &'a Path,
    limit: usize,
    files: HashMap<String, File>,
    bytes: usize,
    /// The canonical directories being walked, outermost first: a link back to one of them
    /// is not followed, so links between directories cannot loop.
    walking: Vec<PathBuf>,
}

impl Loader<'_> {
    /// Load the directory `real` (canonical), whose URL path below the prefix is `rel`.
    fn walk(&mut self, real: &Path, rel: &str, depth: usize) -> Result<(), StaticError> {
        if depth > MAX_DEPTH || self.walking.iter().any(|d| d == real) {
            return Ok(());
        }
        self.walking.push(real.to_path_buf());
        let walked = self.entries(real, rel, depth);
        self.walking.pop();
        walked
    }

    fn entries(&mut self, real: &Path, rel: &str, depth: usize) -> Result<(), StaticError> {
        let read = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StaticError::Read { path, source }
        };
        let mut entries = fs::read_dir(real)
            .map_err(read(real))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(read(real))?;
        entries.sort();
        for name in entries {
            let Some(name) = name.to_str().map(str::to_owned) else {
                log::warn!("static files: skipping a name that is not UTF-8 in {}", real.display());
                continue;
            };
            if name.starts_with('.') || name.contains('\\') {
                continue;
            }
            let entry = real.join(&name);
            let shown = self.shown.join(rel).join(&name);
            let target = fs::canonicalize(&entry).map_err(read(&shown))?;
            if !target.starts_with(self.root) {
                log::warn!(
                    "static files: not serving `{}`: it leads out of the directory",
                    shown.display()
                );
                continue;
            }
            let meta = fs::metadata(&target).map_err(read(&shown))?;
            let url = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            if meta.is_dir() {
                self.walk(&target, &url, depth + 1)?;
            } else if meta.is_file() {
                self.file(&target, &shown, url, &meta)?;
            }
        }
        Ok(())
    }

    fn file(
        &mut self,
        real: &Path,
        shown: &Path,
        url: String,
        meta: &fs::Metadata,
    ) -> Result<(), StaticError> {
        if self.files.len() == MAX_FILES {
            return Err(StaticError::TooMany { path: shown.to_path_buf() });
        }
        let too_big = |total: u64| StaticError::TooBig {
            path: shown.to_path_buf(),
            total,
            limit: self.limit,
        };
        let total = self.bytes as u64 + meta.len();
        if total > self.limit as u64 {
            return Err(too_big(total));
        }
        let body = fs::read(real)
            .map_err(|source| StaticError::Read { path: shown.to_path_buf(), source })?;
        // The file may have grown since its metadata was read.
        let total = self.bytes as u64 + body.len() as u64;
        if total > self.limit as u64 {
            return Err(too_big(total));
        }
        self.bytes += body.len();
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs());
        let digest = ring::digest::digest(&ring::digest::SHA256, &body);
        let etag = format!("\"{}\"", data_encoding::HEXLOWER.encode(&digest.as_ref()[..8]));
        let content_type = mime::content_type(&url);
        self.files.insert(url, File { body, content_type, etag, modified });
        Ok(())
    }
}
