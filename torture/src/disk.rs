//! The run's disk: a tmpfs in a private user and mount namespace, so the
//! torture can fill it, as an operator's disk fills, without root and without
//! touching the machine's disks. Filling is a remount down to what is in use
//! (every new page is then refused with ENOSPC) and freeing a remount back, so
//! neither costs memory or time. The namespace is this process's: the weir
//! processes it starts inherit it, and it ends with the run.

use std::ffi::CString;
use std::io;
use std::path::Path;

/// The tmpfs's size when not full.
pub const SIZE_BYTES: u64 = 8 << 30;

fn check(rc: libc::c_int, what: &str) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        let e = io::Error::last_os_error();
        Err(io::Error::new(e.kind(), format!("{what}: {e}")))
    }
}

fn cstr(s: &str) -> CString {
    CString::new(s).expect("no NUL in a path or an option")
}

fn mount(
    source: &str,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> io::Result<()> {
    let (source, target) = (cstr(source), cstr(&target.to_string_lossy()));
    let fstype = fstype.map(cstr);
    let data = data.map(cstr);
    // SAFETY: every pointer is a NUL-terminated string alive for the call, or null.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ref().map_or(std::ptr::null(), |f| f.as_ptr()),
            flags,
            data.as_ref().map_or(std::ptr::null(), |d| d.as_ptr().cast()),
        )
    };
    check(rc, "mount")
}

/// Enters a new user and mount namespace and mounts a tmpfs at `dir`. Must run
/// while the process has a single thread (unshare(2) refuses a new user
/// namespace otherwise).
pub fn private_tmpfs(dir: &Path) -> io::Result<()> {
    // SAFETY: plain system calls; no memory is shared with them.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    // SAFETY: as above.
    check(unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) }, "unshare")?;
    std::fs::write("/proc/self/setgroups", "deny")?;
    std::fs::write("/proc/self/uid_map", format!("0 {uid} 1"))?;
    std::fs::write("/proc/self/gid_map", format!("0 {gid} 1"))?;
    // Nothing mounted here is seen outside.
    mount("none", Path::new("/"), None, libc::MS_REC | libc::MS_PRIVATE, None)?;
    mount("weir-torture", dir, Some("tmpfs"), 0, Some(&format!("size={SIZE_BYTES}")))
}

/// Bytes in use on the filesystem of `dir`.
fn used(dir: &Path) -> io::Result<u64> {
    let path = cstr(&dir.to_string_lossy());
    // SAFETY: a zeroed statvfs is valid, and statvfs fills it.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated, `st` is writable.
    check(unsafe { libc::statvfs(path.as_ptr(), &mut st) }, "statvfs")?;
    Ok((st.f_blocks - st.f_bfree) * st.f_frsize)
}

/// Fills the disk: the tmpfs shrinks to what it holds. Returns that size.
pub fn fill(dir: &Path) -> io::Result<u64> {
    let size = used(dir)?.max(1 << 20);
    mount("weir-torture", dir, None, libc::MS_REMOUNT, Some(&format!("size={size}")))?;
    Ok(size)
}

/// Frees the disk again.
pub fn free(dir: &Path) -> io::Result<()> {
    mount("weir-torture", dir, None, libc::MS_REMOUNT, Some(&format!("size={SIZE_BYTES}")))
}

/// Unmounts the tmpfs (its files go with it).
pub fn unmount(dir: &Path) {
    let target = cstr(&dir.to_string_lossy());
    // SAFETY: a NUL-terminated path.
    unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
}
