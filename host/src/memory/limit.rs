//! How much memory the host may give its guests: an operator's
//! `--max-memory`, else what the host's cgroup allows (the container's
//! limit), else the machine's memory, less headroom for the host itself.

use std::fmt;
use std::path::{Path, PathBuf};

/// Least memory kept back for the host's own use.
const MIN_HEADROOM: u64 = 128 << 20;
/// Most memory kept back for the host's own use.
const MAX_HEADROOM: u64 = 1 << 30;

/// Where the budget came from, for the start-up log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BudgetSource {
    /// `--max-memory` (or a library caller) said so.
    Configured,
    /// The limit of the host's memory cgroup, in the file named.
    Cgroup { file: PathBuf, limit: u64, headroom: u64 },
    /// The machine's memory (`MemTotal`), with no cgroup limit.
    Machine { total: u64, headroom: u64 },
    /// Nothing could be read: guest memory is bounded per instance only.
    Unbounded,
}

impl fmt::Display for BudgetSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BudgetSource::Configured => f.write_str("--max-memory"),
            BudgetSource::Cgroup { file, limit, headroom } => write!(
                f,
                "the cgroup limit of {} in {}, less {} for the host",
                size(*limit),
                file.display(),
                size(*headroom)
            ),
            BudgetSource::Machine { total, headroom } => {
                write!(f, "the machine's {} with no cgroup limit, less {} for the host", size(*total), size(*headroom))
            }
            BudgetSource::Unbounded => f.write_str("no memory limit found; bounded per instance only"),
        }
    }
}

/// A size as an operator reads it: exact MiB when it is whole MiB (a
/// configured limit), else one decimal (the machine's memory).
pub fn size(bytes: u64) -> String {
    if bytes.is_multiple_of(1 << 20) {
        crate::failure::size(bytes)
    } else {
        bytesize::ByteSize(bytes).display().iec().to_string()
    }
}

/// What the host keeps back from a limit of `limit` bytes for itself: its
/// code and heap (tens of MiB), the fiber stacks of running executions (up
/// to the `--max-stack` each, touched as they recurse), HTTP and database
/// buffers, and the page cache the kernel charges to the same cgroup. An
/// eighth of the limit, at least 128 MiB and at most 1 GiB.
pub fn headroom(limit: u64) -> u64 {
    (limit / 8).clamp(MIN_HEADROOM, MAX_HEADROOM).min(limit / 2)
}

/// The budget for guests on this machine when nobody configured one.
pub fn detect() -> (u64, BudgetSource) {
    if let Some((limit, file)) = cgroup_limit(Path::new("/proc/self/cgroup"), Path::new("/sys/fs/cgroup")) {
        let headroom = headroom(limit);
        return (limit - headroom, BudgetSource::Cgroup { file, limit, headroom });
    }
    match machine_memory(Path::new("/proc/meminfo")) {
        Some(total) => {
            let headroom = headroom(total);
            (total - headroom, BudgetSource::Machine { total, headroom })
        }
        None => (u64::MAX, BudgetSource::Unbounded),
    }
}

/// Values at or above this mean "no limit" (cgroup v1 writes a page-rounded
/// `i64::MAX`).
const NO_LIMIT: u64 = 1 << 60;

/// The tightest memory limit over the host's cgroup and its ancestors, v2
/// (`memory.max`) or v1 (`memory.limit_in_bytes`), with the file it was
/// read from. In a container the cgroup path in `/proc/self/cgroup` may be
/// the host's view while the mount is the container's own: walking up to
/// the mount's root finds the limit either way.
pub fn cgroup_limit(proc_cgroup: &Path, root: &Path) -> Option<(u64, PathBuf)> {
    let text = std::fs::read_to_string(proc_cgroup).ok()?;
    let mut best: Option<(u64, PathBuf)> = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next()) else { continue };
        let (dir, file) = if id == "0" && controllers.is_empty() {
            (root.to_path_buf(), "memory.max")
        } else if controllers.split(',').any(|c| c == "memory") {
            (root.join("memory"), "memory.limit_in_bytes")
        } else {
            continue;
        };
        let mut at = Some(Path::new(path.trim_start_matches('/')));
        while let Some(relative) = at {
            let candidate = dir.join(relative).join(file);
            if let Some(limit) = read_limit(&candidate)
                && best.as_ref().is_none_or(|(b, _)| limit < *b)
            {
                best = Some((limit, candidate));
            }
            at = relative.parent();
        }
    }
    best
}

fn read_limit(file: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(file).ok()?;
    let limit: u64 = text.trim().parse().ok()?; // "max" (v2, no limit) does not parse
    (limit < NO_LIMIT).then_some(limit)
}

/// `MemTotal` in `/proc/meminfo`, in bytes.
fn machine_memory(meminfo: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(meminfo).ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib << 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch directory of this test's own, emptied first.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("activity-host-cgroup-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn a_v1_limit_is_found_on_the_cgroup_or_an_ancestor() {
        let dir = scratch("v1");
        let proc = dir.join("cgroup");
        write(&proc, "5:devices:/\n4:memory:/pod/host\n0::/\n");
        let root = dir.join("fs");
        write(&root.join("memory/pod/host/memory.limit_in_bytes"), "9223372036854771712\n");
        write(&root.join("memory/pod/memory.limit_in_bytes"), "2147483648\n");
        write(&root.join("memory/memory.limit_in_bytes"), "9223372036854771712\n");
        let (limit, file) = cgroup_limit(&proc, &root).unwrap();
        assert_eq!(limit, 2 << 30);
        assert_eq!(file, root.join("memory/pod/memory.limit_in_bytes"));
    }

    #[test]
    fn a_v2_limit_is_the_tightest_memory_max_and_max_means_none() {
        let dir = scratch("v2");
        let proc = dir.join("cgroup");
        write(&proc, "0::/a/b\n");
        let root = dir.join("fs");
        write(&root.join("a/b/memory.max"), "1073741824\n");
        write(&root.join("a/memory.max"), "4294967296\n");
        assert_eq!(cgroup_limit(&proc, &root).unwrap().0, 1 << 30);
        write(&root.join("a/b/memory.max"), "max\n");
        assert_eq!(cgroup_limit(&proc, &root).unwrap().0, 4 << 30);
        write(&root.join("a/memory.max"), "max\n");
        assert_eq!(cgroup_limit(&proc, &root), None);
    }

    #[test]
    fn a_container_sees_its_own_limit_at_the_mount_root() {
        // cgroup namespaces off: the path names the host's view, the mount is the pod's.
        let dir = scratch("container");
        let proc = dir.join("cgroup");
        write(&proc, "0::/kubepods/burstable/pod1/abc\n");
        let root = dir.join("fs");
        write(&root.join("memory.max"), "536870912\n");
        assert_eq!(cgroup_limit(&proc, &root).unwrap().0, 512 << 20);
    }

    #[test]
    fn headroom_is_an_eighth_within_bounds() {
        assert_eq!(headroom(2 << 30), 256 << 20);
        assert_eq!(headroom(512 << 20), 128 << 20);
        assert_eq!(headroom(64 << 30), 1 << 30);
        assert_eq!(headroom(128 << 20), 64 << 20);
    }

    #[test]
    fn meminfo_is_read_in_kib() {
        let dir = scratch("meminfo");
        let file = dir.join("meminfo");
        write(&file, "MemTotal:       24528240 kB\nMemFree: 1 kB\n");
        assert_eq!(machine_memory(&file), Some(24528240 << 10));
    }
}
