//! The log files: one folder, each file rotated by size and a bounded number kept.

use crate::config::Config;

/// Where and how much the backend logs to files.
#[derive(Debug, Clone)]
pub struct LogFiles {
    pub dir: std::path::PathBuf,
    /// Each file is rotated once it passes this many bytes.
    pub max_bytes: usize,
    /// Rotated files kept per log (`requests.log.1` … `.{keep}`); older ones are deleted.
    pub keep: usize,
    /// Write the per-request logs (`requests.log`, `responses.log`).
    pub requests: bool,
}

impl LogFiles {
    /// The settings of `LOG_DIR` and its companions, when `LOG_DIR` is set.
    pub fn from_config(config: &Config) -> Option<Self> {
        config.log_dir.as_ref().map(|dir| LogFiles {
            dir: dir.clone(),
            max_bytes: (config.log_max_mb * 1024.0 * 1024.0) as usize,
            keep: config.log_keep,
            requests: config.log_requests,
        })
    }

    /// A writer to `name` in the folder, rotated by size: so a busy bridge never fills its
    /// disk. Lines stay whole (rotation happens after the write that passed the limit, and
    /// `batched` writes line by line), so a log takes at most `(keep + 1) × (max_bytes + one line)`.
    pub fn writer(&self, name: &str) -> file_rotate::FileRotate<file_rotate::suffix::AppendCount> {
        file_rotate::FileRotate::new(
            self.dir.join(name),
            file_rotate::suffix::AppendCount::new(self.keep),
            file_rotate::ContentLimit::BytesSurpassed(self.max_bytes),
            file_rotate::compression::Compression::None,
            None,
        )
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn log_files_stay_within_their_cap() {
        let dir = std::env::temp_dir().join(format!("vmb-logs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let files = LogFiles {
            dir: dir.clone(),
            max_bytes: 10_000,
            keep: 2,
            requests: true,
        };
        let mut log = files.writer("requests.log");
        let line = format!("{{\"request_id\":\"{}\"}}\n", "x".repeat(100));
        for _ in 0..5_000 {
            log.write_all(line.as_bytes()).unwrap();
        }
        log.flush().unwrap();
        let sizes: Vec<(String, u64)> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap())
            .map(|e| {
                (
                    e.file_name().into_string().unwrap(),
                    e.metadata().unwrap().len(),
                )
            })
            .collect();
        let total: u64 = sizes.iter().map(|(_, size)| size).sum();
        // 5,000 lines (over 500 KB) written; what stays is the file and two rotated ones.
        assert_eq!(sizes.len(), 3, "{sizes:?}");
        assert!(total <= 3 * (10_000 + line.len() as u64), "{sizes:?}");
        let newest = std::fs::read_to_string(dir.join("requests.log")).unwrap();
        assert!(
            newest.lines().all(|l| l.len() == line.len() - 1),
            "lines stay whole"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
