//! Exclusive lock on the data directory, so two processes never write the same logs.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use crate::error::{BrokerError, Result};

/// Holds `flock(LOCK_EX)` on `<data-dir>/.lock` for the life of the process; the kernel
/// drops it when the process dies, so a crash never leaves a stale lock behind.
pub struct DirLock {
    _file: File,
    _path: PathBuf,
}

impl DirLock {
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        let path = dir.join(".lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| BrokerError::io("open", &path, e))?;
        // SAFETY: flock on a valid descriptor we own.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let pid = pid.trim();
                let holder = if pid.is_empty() { String::new() } else { format!(" (pid {pid})") };
                return Err(BrokerError::DataDirLocked { path: dir.to_path_buf(), holder });
            }
            return Err(BrokerError::io("lock", &path, err));
        }
        file.set_len(0).map_err(|e| BrokerError::io("truncate", &path, e))?;
        file.seek(SeekFrom::Start(0)).map_err(|e| BrokerError::io("seek", &path, e))?;
        write!(file, "{}", std::process::id()).map_err(|e| BrokerError::io("write", &path, e))?;
        Ok(DirLock { _file: file, _path: path })
    }
}
