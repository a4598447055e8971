//! The agent sandbox: Landlock, applied to the agent process between fork
//! and exec, so an agent reads the system and writes only what its run
//! owns. It cannot read or write Yagura's data dir (database, secrets,
//! signing key), other runs' work dirs, or the server's home.
//!
//! What an agent gets:
//! - read and execute: the system ([`SYSTEM_READ`]), the directories on
//!   its `PATH`, and the `yagura` binary (the demo agent);
//! - read and write: its work dir, a private tmp (`TMPDIR`), `/dev` files
//!   (no device creation), and the agent's own extra paths (CLIs that keep
//!   their sign-in in `$HOME`);
//! - for a git worktree: the shared repository read-only, its objects,
//!   refs, logs and its own worktree entry writable, so it can commit but
//!   not rewrite `.git/config` or plant hooks;
//! - since ABI 6, signals and abstract unix sockets only within its own
//!   sandbox: it cannot signal the server.
//!
//! Network stays open (agents call model APIs). The ruleset is built in
//! the parent (it opens files, which allocates); the child only makes two
//! async-signal-safe system calls.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Read-only system locations (those that exist are used).
pub const SYSTEM_READ: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/nix",
    "/snap", "/run", "/sys", "/proc",
];

pub use crate::config::SandboxMode as Mode;

/// What the kernel offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Support {
    /// Landlock with this ABI version.
    Landlock { abi: u32 },
    /// Why not.
    Unavailable(String),
}

/// The sandbox this machine gives agents in `mode`, in words.
pub fn describe(mode: Mode) -> (bool, String) {
    match (mode, support()) {
        (Mode::Off, _) => (false, "off (--sandbox off): agents run unsandboxed".into()),
        (_, Support::Landlock { abi }) => (
            true,
            format!("Landlock ABI {abi}: agents read the system and write only their own work dir"),
        ),
        (Mode::Auto, Support::Unavailable(why)) => (
            false,
            format!("unavailable ({why}): agents run unsandboxed"),
        ),
        (Mode::On, Support::Unavailable(why)) => (
            false,
            format!("unavailable ({why}): executions fail while --sandbox on"),
        ),
    }
}

#[cfg(target_os = "linux")]
pub fn support() -> Support {
    // SAFETY: a query with a null attribute and the VERSION flag reads
    // nothing from our memory.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            CREATE_RULESET_VERSION,
        )
    };
    if abi > 0 {
        return Support::Landlock { abi: abi as u32 };
    }
    let err = std::io::Error::last_os_error();
    Support::Unavailable(match err.raw_os_error() {
        Some(libc::ENOSYS) => "the kernel has no Landlock (Linux 5.13 or later)".into(),
        Some(libc::EOPNOTSUPP) => "Landlock is disabled at boot (add it to lsm=)".into(),
        _ => format!("Landlock: {err}"),
    })
}

#[cfg(not(target_os = "linux"))]
pub fn support() -> Support {
    Support::Unavailable("Landlock is Linux only".into())
}

/// The paths one agent process may use.
#[derive(Clone, Debug, Default)]
pub struct Paths {
    /// Read and write (directories or files).
    pub write: Vec<PathBuf>,
    /// Read and execute only.
    pub read: Vec<PathBuf>,
}

impl Paths {
    /// The paths of one run: `workdir` and `tmp` writable; readable: the
    /// system, the directories on `path` (the agent's `PATH`, else the
    /// server's) with what they link to and their toolchain roots, the
    /// user's git config (`~/.gitconfig`, `~/.config/git`: identity for
    /// commits), and `yagura_bin`; `extra` (the agent's own) writable. A
    /// readable or extra path that holds or lies in `private` (Yagura's
    /// data dir) is left out: Landlock grants whole trees, so granting it
    /// would grant the secrets.
    pub fn for_run(
        workdir: &Path,
        tmp: &Path,
        yagura_bin: &Path,
        private: &Path,
        extra: &[PathBuf],
        path: Option<&std::ffi::OsStr>,
    ) -> Self {
        let mut read: Vec<PathBuf> = SYSTEM_READ.iter().map(PathBuf::from).collect();
        let path = path
            .map(std::ffi::OsStr::to_os_string)
            .or_else(|| std::env::var_os("PATH"))
            .unwrap_or_default();
        for dir in std::env::split_paths(&path).filter(|d| d.is_absolute()) {
            read.extend(toolchain_paths(&dir));
        }
        if let Some(home) = std::env::var_os("HOME").map(PathBuf::from) {
            read.push(home.join(".gitconfig"));
            read.push(home.join(".config/git"));
        }
        read.push(yagura_bin.to_path_buf());
        read.retain(|p| !overlaps(p, private));
        read.sort();
        read.dedup();
        let mut write = vec![workdir.to_path_buf(), tmp.to_path_buf()];
        write.extend(extra.iter().filter(|p| !overlaps(p, private)).cloned());
        if let Some(git) = worktree_git(workdir) {
            read.push(git.common.clone());
            for sub in ["objects", "refs", "logs"] {
                write.push(git.common.join(sub));
            }
            write.push(git.own);
        }
        Self { write, read }
    }
}

/// What running the programs in one `PATH` directory needs: the directory,
/// where it really is, the parent of a `bin` or `shims` directory (a
/// toolchain's root: `~/.cargo`, `~/.pyenv`, an nvm node version), rustup's
/// toolchains beside `~/.cargo`, and the directories its symlinks point
/// into (`~/.local/bin/claude` → `~/.local/share/claude/…`). System
/// directories are covered already and not walked.
fn toolchain_paths(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    let Ok(real) = std::fs::canonicalize(dir) else {
        return out;
    };
    if SYSTEM_READ.iter().any(|s| real.starts_with(s)) {
        return out;
    }
    out.push(real.clone());
    let name = real.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if let Some(root) = real.parent().filter(|_| matches!(name, "bin" | "shims")) {
        out.push(root.to_path_buf());
        if root.file_name().is_some_and(|n| n == ".cargo") {
            if let Some(home) = root.parent() {
                out.push(home.join(".rustup"));
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(&real) {
        for entry in entries.flatten().take(512) {
            let is_link = entry.file_type().is_ok_and(|t| t.is_symlink());
            if let (true, Ok(target)) = (is_link, std::fs::canonicalize(entry.path())) {
                if let Some(parent) = target.parent() {
                    if !out.iter().any(|p| parent.starts_with(p)) {
                        out.push(parent.to_path_buf());
                    }
                }
            }
        }
    }
    out
}

/// An agent's extra paths with `~/` read as the home directory of whoever
/// runs it (the server's, or the runner's).
pub fn expand_home(paths: &[String]) -> Vec<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    paths
        .iter()
        .filter_map(|p| match (p.strip_prefix("~/"), &home) {
            (Some(rest), Some(home)) => Some(home.join(rest)),
            (Some(_), None) => None,
            (None, _) => Some(PathBuf::from(p)),
        })
        .collect()
}

/// Whether one of the two paths holds the other.
fn overlaps(path: &Path, private: &Path) -> bool {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (a, b) = (canon(path), canon(private));
    a.starts_with(&b) || b.starts_with(&a)
}

/// A git worktree's shared repository and its own entry in it.
struct WorktreeGit {
    common: PathBuf,
    own: PathBuf,
}

/// For a linked worktree, `.git` is a file: `gitdir: <common>/worktrees/<name>`.
fn worktree_git(workdir: &Path) -> Option<WorktreeGit> {
    let text = std::fs::read_to_string(workdir.join(".git")).ok()?;
    let own = PathBuf::from(text.strip_prefix("gitdir:")?.trim());
    let own = if own.is_absolute() {
        own
    } else {
        workdir.join(own)
    };
    let common = own.parent()?.parent()?.to_path_buf();
    Some(WorktreeGit { common, own })
}

/// A ruleset ready to be applied in the child.
pub struct Prepared {
    ruleset: OwnedFd,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the sandbox is unavailable: {0}")]
    Unavailable(String),
    #[error("cannot build the sandbox: {0}")]
    Build(std::io::Error),
}

const CREATE_RULESET_VERSION: u32 = 1;
const RULE_PATH_BENEATH: u32 = 1;

const FS_EXECUTE: u64 = 1 << 0;
const FS_WRITE_FILE: u64 = 1 << 1;
const FS_READ_FILE: u64 = 1 << 2;
const FS_READ_DIR: u64 = 1 << 3;
const FS_REFER: u64 = 1 << 13;
const FS_TRUNCATE: u64 = 1 << 14;
const FS_IOCTL_DEV: u64 = 1 << 15;
/// Rights that apply to a file (rules on files may name only these).
const FS_FILE: u64 = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV;
const FS_READ: u64 = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR;

const SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;
const SCOPE_SIGNAL: u64 = 1 << 1;

#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

/// Every filesystem right the kernel's ABI knows (all are handled, so
/// anything not granted is denied).
fn handled_fs(abi: u32) -> u64 {
    let mut all = (1 << 13) - 1; // ABI 1: execute .. make_sym
    if abi >= 2 {
        all |= FS_REFER;
    }
    if abi >= 3 {
        all |= FS_TRUNCATE;
    }
    if abi >= 5 {
        all |= FS_IOCTL_DEV;
    }
    all
}

/// Builds the ruleset for `paths` (missing paths are skipped).
#[cfg(target_os = "linux")]
pub fn prepare(paths: &Paths) -> Result<Prepared, Error> {
    let abi = match support() {
        Support::Landlock { abi } => abi,
        Support::Unavailable(why) => return Err(Error::Unavailable(why)),
    };
    let handled = handled_fs(abi);
    let attr = RulesetAttr {
        handled_access_fs: handled,
        handled_access_net: 0,
        scoped: if abi >= 6 {
            SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
        } else {
            0
        },
    };
    // Older kernels know a shorter struct; the size says which fields we use.
    let size = if abi >= 6 { 24 } else { 8 };
    // SAFETY: attr is a valid, initialised struct of at least `size` bytes.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            &attr as *const RulesetAttr,
            size as usize,
            0u32,
        )
    };
    if fd < 0 {
        return Err(Error::Build(std::io::Error::last_os_error()));
    }
    // SAFETY: the kernel just gave us this descriptor.
    let ruleset = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let dev = FS_READ | FS_WRITE_FILE | FS_TRUNCATE | FS_IOCTL_DEV;
    let rules = paths
        .read
        .iter()
        .map(|p| (p.as_path(), FS_READ))
        .chain(std::iter::once((Path::new("/dev"), dev)))
        .chain(paths.write.iter().map(|p| (p.as_path(), handled)));
    for (path, access) in rules {
        add_rule(&ruleset, path, access & handled)?;
    }
    Ok(Prepared { ruleset })
}

/// The sandbox for one run in `mode`: `None` when off, or when `auto` and
/// the kernel has no Landlock; an error when `on` and it has none.
pub fn for_mode(mode: Mode, paths: &Paths) -> Result<Option<Prepared>, Error> {
    if mode == Mode::Off {
        return Ok(None);
    }
    match prepare(paths) {
        Ok(p) => Ok(Some(p)),
        Err(Error::Unavailable(_)) if mode == Mode::Auto => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(not(target_os = "linux"))]
pub fn prepare(_: &Paths) -> Result<Prepared, Error> {
    Err(Error::Unavailable("Landlock is Linux only".into()))
}

#[cfg(target_os = "linux")]
fn add_rule(ruleset: &OwnedFd, path: &Path, access: u64) -> Result<(), Error> {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return Ok(());
    };
    // SAFETY: a NUL-terminated path; O_PATH opens nothing for reading.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    if fd < 0 {
        return Ok(()); // absent: nothing to allow
    }
    // SAFETY: we own the descriptor just opened.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let is_dir = std::fs::metadata(path).map(|m| m.is_dir()).unwrap_or(false);
    let attr = PathBeneathAttr {
        allowed_access: if is_dir { access } else { access & FS_FILE },
        parent_fd: fd.as_raw_fd(),
    };
    // SAFETY: attr is valid for the call; both descriptors are open.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_landlock_add_rule,
            ruleset.as_raw_fd(),
            RULE_PATH_BENEATH,
            &attr as *const PathBeneathAttr,
            0u32,
        )
    };
    if rc != 0 {
        return Err(Error::Build(std::io::Error::other(format!(
            "{}: {}",
            path.display(),
            std::io::Error::last_os_error()
        ))));
    }
    Ok(())
}

impl Prepared {
    /// Restricts the calling process. Runs in the child between fork and
    /// exec: only async-signal-safe system calls, no allocation.
    #[cfg(target_os = "linux")]
    pub fn apply_in_child(&self) -> std::io::Result<()> {
        // SAFETY: plain system calls on integers we own.
        unsafe {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::syscall(
                libc::SYS_landlock_restrict_self,
                self.ruleset.as_raw_fd(),
                0u32,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }

    #[cfg(not(target_os = "linux"))]
    pub fn apply_in_child(&self) -> std::io::Result<()> {
        Err(std::io::Error::other("Landlock is Linux only"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse() {
        assert_eq!("auto".parse::<Mode>(), Ok(Mode::Auto));
        assert_eq!("ON".parse::<Mode>(), Ok(Mode::On));
        assert_eq!("off".parse::<Mode>(), Ok(Mode::Off));
        assert!("maybe".parse::<Mode>().is_err());
    }

    #[test]
    fn handled_rights_grow_with_the_abi() {
        assert_eq!(handled_fs(1), (1 << 13) - 1);
        assert!(handled_fs(2) & FS_REFER != 0);
        assert!(handled_fs(3) & FS_TRUNCATE != 0);
        assert!(handled_fs(4) & FS_IOCTL_DEV == 0);
        assert!(handled_fs(5) & FS_IOCTL_DEV != 0);
    }

    #[test]
    fn a_path_directory_brings_its_toolchain_and_link_targets() {
        let home = tempfile::tempdir().unwrap();
        let bin = home.path().join(".cargo/bin");
        let share = home.path().join(".local/share/tool/v1");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&share).unwrap();
        std::fs::write(share.join("tool"), "").unwrap();
        std::os::unix::fs::symlink(share.join("tool"), bin.join("tool")).unwrap();
        let got = toolchain_paths(&bin);
        let real = |p: &Path| std::fs::canonicalize(p).unwrap();
        assert!(got.contains(&real(&home.path().join(".cargo"))), "{got:?}");
        assert!(got.contains(&real(home.path()).join(".rustup")), "{got:?}");
        assert!(got.contains(&real(&share)), "{got:?}");
        assert_eq!(
            toolchain_paths(Path::new("/usr/bin")),
            vec![PathBuf::from("/usr/bin")]
        );
    }

    #[test]
    fn a_linked_worktree_names_its_repository() {
        let dir = tempfile::tempdir().unwrap();
        let wt = dir.path().join("wt");
        std::fs::create_dir(&wt).unwrap();
        std::fs::write(wt.join(".git"), "gitdir: /data/repos/r/.git/worktrees/x\n").unwrap();
        let git = worktree_git(&wt).unwrap();
        assert_eq!(git.common, Path::new("/data/repos/r/.git"));
        assert_eq!(git.own, Path::new("/data/repos/r/.git/worktrees/x"));
        std::fs::create_dir(dir.path().join("plain")).unwrap();
        assert!(worktree_git(&dir.path().join("plain")).is_none());
    }

    #[test]
    fn paths_holding_the_data_dir_are_not_granted() {
        let data = tempfile::tempdir().unwrap();
        let paths = Paths::for_run(
            &data.path().join("work/1"),
            &data.path().join("work/1.tmp"),
            &data.path().join("bin/yagura"),
            data.path(),
            &[data.path().parent().unwrap().to_path_buf(), "/srv/x".into()],
            Some(std::ffi::OsStr::new("/usr/bin:/tmp")),
        );
        assert!(paths.read.iter().all(|p| !overlaps(p, data.path())));
        // /tmp (the data dir's parent) would grant the data dir: left out.
        assert_eq!(
            paths.write,
            vec![
                data.path().join("work/1"),
                data.path().join("work/1.tmp"),
                "/srv/x".into()
            ]
        );
    }
}
