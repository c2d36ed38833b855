//! The node's data directory: an exclusive lock (one node per directory)
//! and the port kept from the first start.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};

/// The default port of a full node (API.md).
pub const DEFAULT_PORT: u16 = 50_000;
const LOCK_FILE: &str = "LOCK";
const PORT_FILE: &str = "port";

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("cannot use data directory {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("another full-node is already running on data directory {0}")]
    Locked(PathBuf),
    // The OS error is part of the message, not a `source`: printed as a
    // chain it would otherwise appear twice.
    #[error("port {port} kept in {dir} is taken ({error}); stop what uses it or pass -p")]
    KeptPortTaken {
        port: u16,
        dir: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error("no free port from {DEFAULT_PORT} up on {0}")]
    NoFreePort(std::net::IpAddr),
    #[error("{0} holds an unreadable port: {1:?}")]
    BadPortFile(PathBuf, String),
}

/// A locked data directory; the lock lasts as long as this value.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    _lock: File,
}

impl DataDir {
    /// Creates the directory if needed and takes its lock, before anything
    /// else in it is touched.
    pub fn lock(path: &Path) -> Result<DataDir, DataDirError> {
        let io = |e| DataDirError::Io(path.to_path_buf(), e);
        fs::create_dir_all(path).map_err(io)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path.join(LOCK_FILE))
            .map_err(io)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(DataDirError::Locked(path.to_path_buf()));
            }
            Err(fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        Ok(DataDir {
            path: path.to_path_buf(),
            _lock: lock,
        })
    }

    /// Takes the lock of an existing directory, for a tool that reads a
    /// stopped node's files (`full-node verify`): nothing is created but
    /// the lock file when it is missing, and a running node's lock is
    /// [`DataDirError::Locked`].
    pub fn lock_existing(path: &Path) -> Result<DataDir, DataDirError> {
        let io = |e| DataDirError::Io(path.to_path_buf(), e);
        let file = path.join(LOCK_FILE);
        let lock = match File::open(&file) {
            Ok(lock) => lock,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&file)
                .map_err(io)?,
            Err(e) => return Err(io(e)),
        };
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(DataDirError::Locked(path.to_path_buf()));
            }
            Err(fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        Ok(DataDir {
            path: path.to_path_buf(),
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn kept_port(&self) -> Result<Option<u16>, DataDirError> {
        let file = self.path.join(PORT_FILE);
        match fs::read_to_string(&file) {
            Ok(text) => text
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| DataDirError::BadPortFile(file, text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(DataDirError::Io(file, e)),
        }
    }

    fn keep_port(&self, port: u16) -> Result<(), DataDirError> {
        let file = self.path.join(PORT_FILE);
        let tmp = self.path.join("port.tmp");
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            writeln!(f, "{port}")?;
            f.sync_all()?;
            fs::rename(&tmp, &file)
        };
        write().map_err(|e| DataDirError::Io(file.clone(), e))
    }

    /// Binds the API port (API.md): an explicit port as given (0: any free
    /// one); else the port kept here; else, at the first start, 50000 or the
    /// next free port above it, then kept.
    pub fn bind(
        &self,
        ip: std::net::IpAddr,
        explicit: Option<u16>,
    ) -> Result<TcpListener, DataDirError> {
        if let Some(port) = explicit {
            let addr = SocketAddr::new(ip, port);
            return TcpListener::bind(addr).map_err(|error| DataDirError::Bind { addr, error });
        }
        if let Some(port) = self.kept_port()? {
            return TcpListener::bind(SocketAddr::new(ip, port)).map_err(|error| {
                DataDirError::KeptPortTaken {
                    port,
                    dir: self.path.clone(),
                    error,
                }
            });
        }
        for port in DEFAULT_PORT..=u16::MAX {
            if let Ok(listener) = TcpListener::bind(SocketAddr::new(ip, port)) {
                self.keep_port(port)?;
                return Ok(listener);
            }
        }
        Err(DataDirError::NoFreePort(ip))
    }
}
