//! One writer at a time: an exclusive advisory lock on `<warehouse>/.lock`,
//! held for the life of the process (the OS releases it if the process dies,
//! so a crash never leaves a stale lock). Readers do not lock.

use super::WarehouseError;
use fs2::FileExt;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

pub struct WriterLock {
    file: std::fs::File,
}

impl WriterLock {
    /// Takes the lock, waiting up to `wait` for the current writer.
    pub fn acquire(root: &Path, wait: Duration) -> Result<WriterLock, WarehouseError> {
        let path = root.join(".lock");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| WarehouseError::io("cannot open the lock file", &path, e))?;
        let start = Instant::now();
        loop {
            match file.try_lock_exclusive() {
                Ok(()) => break,
                Err(_) if start.elapsed() < wait => std::thread::sleep(Duration::from_millis(100)),
                Err(_) => {
                    let holder = std::fs::read_to_string(&path)
                        .unwrap_or_default()
                        .trim()
                        .to_string();
                    return Err(WarehouseError::Locked {
                        path: root.to_path_buf(),
                        holder: if holder.is_empty() {
                            "unknown".into()
                        } else {
                            holder
                        },
                    });
                }
            }
        }
        let _ = file.set_len(0);
        let _ = write!(file, "{}", std::process::id());
        let _ = file.flush();
        Ok(WriterLock { file })
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = FileExt::unlock(&self.file);
    }
}
