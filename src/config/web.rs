//! The `[web]` table: a directory of the user's own static files, served by the relay itself.
//!
//! ```toml
//! [web]
//! static_dir = "examples/web"   # default: none (nothing is served)
//! static_prefix = "/app/"       # the URL prefix the files appear under
//! static_max_bytes = "64MiB"    # bound on the files loaded into memory at start
//! ```
//!
//! The files are read once, when the reactor is bound (see [`crate::web`]); this table only
//! holds and checks the settings.

use std::path::PathBuf;

use serde::Deserialize;

use super::de_size;

/// Default URL prefix of the static files.
pub const DEFAULT_STATIC_PREFIX: &str = "/app/";
/// Default bound on the bytes of static files loaded at start.
pub const DEFAULT_STATIC_MAX_BYTES: usize = 64 << 20;

/// Paths whose requests must keep reaching the built-in endpoints.
const RESERVED: [&str; 3] = ["/pub/", "/sub/", "/_sluice/"];
/// Built-in exact paths: a prefix named after one would never see its bare form.
const BUILTIN: [&str; 4] = ["/echo/", "/healthz/", "/readyz/", "/metrics/"];

/// Static files served by the relay (`[web]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// A directory whose files are served under `static_prefix`, loaded into memory when the
    /// reactor is bound (a relative path is relative to the working directory). Default: none.
    pub static_dir: Option<PathBuf>,
    /// The URL prefix of the files: `/app/` (the default) serves `DIR/index.html` at `/app/` and
    /// `DIR/js/chart.js` at `/app/js/chart.js`. Starts and ends with `/`.
    pub static_prefix: String,
    /// Bound on the total size of the files loaded. Default 64 MiB. A directory over it is an
    /// error at start that names the file that crossed it.
    #[serde(deserialize_with = "de_size")]
    pub static_max_bytes: usize,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            static_dir: None,
            static_prefix: DEFAULT_STATIC_PREFIX.into(),
            static_max_bytes: DEFAULT_STATIC_MAX_BYTES,
        }
    }
}

impl WebConfig {
    /// Check the prefix and the bound (the directory itself is read at bind).
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        check_prefix(&self.static_prefix).map_err(|why| ("web.static_prefix", why))?;
        if self.static_max_bytes == 0 {
            return Err(("web.static_max_bytes", "must be at least 1 byte".into()));
        }
        Ok(())
    }
}

/// A URL prefix: `/name/` or `/a/b/`, of unreserved URL characters, not shadowing a built-in
/// endpoint.
fn check_prefix(p: &str) -> Result<(), String> {
    let shape_ok = p.len() >= 3
        && p.starts_with('/')
        && p.ends_with('/')
        && p[1..p.len() - 1].split('/').all(|s| !s.is_empty() && s != "." && s != "..")
        && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-._~".contains(&b));
    if !shape_ok {
        return Err(format!(
            "`{p}` must look like `/app/`: start and end with `/`, letters, digits, `-._~` between"
        ));
    }
    if let Some(r) = RESERVED.iter().find(|r| p.starts_with(**r)) {
        return Err(format!("`{p}` is under `{r}`, which the relay's own endpoints use"));
    }
    if BUILTIN.contains(&p) {
        return Err(format!("`{p}` would shadow the built-in `{}`", &p[..p.len() - 1]));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        for ok in ["/app/", "/static/v1/", "/my-app_2.0/"] {
            assert_eq!(check_prefix(ok), Ok(()), "{ok}");
        }
        for bad in
            ["/", "app/", "/app", "//", "/a//b/", "/../", "/a b/", "/pub/x/", "/_sluice/", "/echo/"]
        {
            assert!(check_prefix(bad).is_err(), "{bad}");
        }
    }
}
