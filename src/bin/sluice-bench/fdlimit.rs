//! File descriptors: raise the soft limit to what a run needs, or say exactly what to raise.

/// Make sure at least `needed` descriptors can be open: raise the soft limit up to the hard
/// limit if necessary. The error names the command that would fix it.
pub fn ensure(needed: usize) -> Result<u64, String> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes only into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(format!("getrlimit: {}", std::io::Error::last_os_error()));
    }
    let needed = needed as u64;
    if lim.rlim_cur >= needed {
        return Ok(lim.rlim_cur);
    }
    if lim.rlim_max < needed {
        return Err(format!(
            "this run needs {needed} file descriptors but the hard limit is {}: raise it \
             (as root: `ulimit -Hn {needed}`, or `nofile` in /etc/security/limits.conf) and the \
             server's too",
            lim.rlim_max
        ));
    }
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: setrlimit reads only the struct we pass.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(format!(
            "cannot raise the file descriptor limit to {}: {}; run `ulimit -n {needed}` first",
            lim.rlim_max,
            std::io::Error::last_os_error()
        ));
    }
    Ok(lim.rlim_cur)
}

/// Resident set size of a process (`/proc/PID/status` VmRSS), bytes.
pub fn rss_of(pid: &str) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| format!("{path} has no VmRSS line"))
}
