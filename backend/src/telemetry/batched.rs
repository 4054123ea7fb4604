//! A log file written in batches by a thread of its own, so that logging a request costs the
//! request a copy into memory and no more.
//!
//! `tracing-appender`'s non-blocking writer sends each line through a channel to its writer
//! thread, which sleeps on the channel when idle: every line is a futex wake-up of another
//! thread and a context switch. Under load that was a fifth of the backend's CPU per request
//! (two lines per request, issue #27's profile). Here a line is appended to a buffer under a
//! mutex; only the first line into an empty buffer wakes the writer thread, which then waits
//! [`LINGER`] for more before it writes them all. A busy server thus wakes its writer about once
//! per [`LINGER`], whatever its rate, and an idle one writes a line within it.
//!
//! Bounded: when the buffer holds [`MAX_PENDING`] bytes (the disk stalls), lines are dropped and
//! counted rather than held, and the writer reports how many in the server's log.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, mpsc};
use std::time::Duration;

/// How long the writer gathers lines after the first one wakes it.
pub const LINGER: Duration = Duration::from_millis(10);
/// Bytes waiting in memory at most, per file (besides the batch being written).
pub const MAX_PENDING: usize = 8 * 1024 * 1024;
/// How long stopping waits for the last lines to be written: a stalled disk must not keep the
/// process from exiting.
const STOP_WAIT: Duration = Duration::from_secs(2);
/// What a fresh buffer reserves (a busy LINGER's worth of lines at a few thousand a second).
const BATCH: usize = 64 * 1024;

#[derive(Default)]
struct Pending {
    lines: Vec<u8>,
    dropped: u64,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A panic while holding it leaves plain bytes behind: still fine to write.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The `MakeWriter` of one log file; clones share it.
#[derive(Clone)]
pub struct Batched {
    shared: Arc<Shared>,
}

/// Stops the writer thread once everything held is written; keep it for as long as lines are
/// logged.
pub struct Flusher {
    name: &'static str,
    shared: Arc<Shared>,
    /// Says the writer thread has written everything and stopped.
    done: mpsc::Receiver<()>,
}

impl Batched {
    /// Starts the thread that writes to `file`; `name` is how drops are reported.
    pub fn new(name: &'static str, file: impl Write + Send + 'static) -> (Self, Flusher) {
        let shared = Arc::new(Shared::default());
        let (stopped, done) = mpsc::channel();
        std::thread::Builder::new()
            .name(format!("log {name}"))
            .spawn({
                let shared = shared.clone();
                move || {
                    write_batches(name, &shared, file);
                    let _ = stopped.send(());
                }
            })
            .expect("the log writer thread starts");
        (
            Self {
                shared: shared.clone(),
            },
            Flusher { name, shared, done },
        )
    }

    fn append(&self, line: &[u8]) {
        let mut pending = self.shared.lock();
        if pending.lines.len() + line.len() > MAX_PENDING {
            pending.dropped += 1;
            return;
        }
        let first = pending.lines.is_empty();
        pending.lines.extend_from_slice(line);
        drop(pending);
        if first {
            self.shared.wake.notify_one();
        }
    }
}

fn write_batches(name: &str, shared: &Shared, mut file: impl Write) {
    let mut failing = false;
    loop {
        let fresh = Vec::with_capacity(BATCH);
        let mut pending = shared.lock();
        while pending.lines.is_empty() && !pending.closed {
            pending = shared.wake.wait(pending).unwrap_or_else(|e| e.into_inner());
        }
        if !pending.closed {
            drop(pending);
            std::thread::sleep(LINGER);
            pending = shared.lock();
        }
        let lines = std::mem::replace(&mut pending.lines, fresh);
        let dropped = std::mem::take(&mut pending.dropped);
        let closed = pending.closed;
        drop(pending);
        // Line by line: the file rotates between two writes, so each write being one line keeps
        // every file within its size plus one line (`LogFiles::writer`).
        let written = lines
            .split_inclusive(|&b| b == b'\n')
            .try_for_each(|line| file.write_all(line))
            .and_then(|()| file.flush());
        // Said once when writing starts failing (a full disk) and once when it works again.
        match written {
            Err(error) if !failing => {
                failing = true;
                eprintln!("warning: writing {name}: {error}; lines are lost until it works again");
            }
            Ok(()) if failing => {
                failing = false;
                eprintln!("writing {name} works again");
            }
            _ => {}
        }
        if dropped > 0 {
            tracing::warn!(
                file = name,
                dropped,
                "log lines dropped: they came faster than the disk took them"
            );
        }
        if closed && shared.lock().lines.is_empty() {
            return;
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
        if self.done.recv_timeout(STOP_WAIT).is_err() {
            eprintln!(
                "warning: {} lines of {} not written: the disk did not take them in time",
                count_lines(&self.shared.lock().lines),
                self.name
            );
        }
    }
}

fn count_lines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

/// One event's line: `tracing-subscriber` formats the whole line first, then writes it once.
pub struct Line<'a>(&'a Batched);

impl Write for Line<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Batched {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Line(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file that hands what it was given to the test.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut sink = self.0.lock().unwrap();
            sink.0.extend_from_slice(buf);
            // Writes, each of which must be one whole line.
            sink.1 += 1;
            assert_eq!(buf.iter().filter(|&&b| b == b'\n').count(), 1);
            assert_eq!(buf.last(), Some(&b'\n'));
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_from_many_threads_arrive_whole_and_in_order() {
        let sink = Sink::default();
        let (writer, flusher) = Batched::new("test.log", sink.clone());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..5_000 {
                        writer.append(format!("{{\"thread\":{t},\"line\":{i}}}\n").as_bytes());
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(flusher);
        let (bytes, writes) = sink.0.lock().unwrap().clone();
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(text.lines().count(), 20_000);
        // Line by line, so the file can rotate between any two (`LogFiles::writer`).
        assert_eq!(writes, 20_000);
        for t in 0..4 {
            // Each thread's lines whole and in its order.
            let mine: Vec<u32> = text
                .lines()
                .filter(|l| l.starts_with(&format!("{{\"thread\":{t},")))
                .map(|l| {
                    l.rsplit(':')
                        .next()
                        .unwrap()
                        .trim_end_matches('}')
                        .parse()
                        .unwrap()
                })
                .collect();
            assert_eq!(mine, (0..5_000).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_line_is_written_soon_without_more_coming() {
        let sink = Sink::default();
        let (writer, _flusher) = Batched::new("test.log", sink.clone());
        writer.append(b"one\n");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while sink.0.lock().unwrap().0.is_empty() {
            assert!(std::time::Instant::now() < deadline, "never written");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(sink.0.lock().unwrap().0, b"one\n");
    }

    #[test]
    fn past_the_bound_lines_are_dropped_and_counted_not_held() {
        /// A disk that stalls until the test lets it go.
        struct Stalled(Arc<Mutex<()>>, Sink);
        impl Write for Stalled {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                let _wait = self.0.lock().unwrap();
                self.1.write(buf)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        let sink = Sink::default();
        let (writer, flusher) = Batched::new("test.log", Stalled(gate.clone(), sink.clone()));
        let line = vec![b'x'; 1023]
            .into_iter()
            .chain([b'\n'])
            .collect::<Vec<_>>();
        // The first line wakes the writer, which takes it and then blocks on the stalled disk.
        writer.append(&line);
        while !writer.shared.lock().lines.is_empty() {
            std::thread::sleep(Duration::from_millis(1));
        }
        for _ in 0..(MAX_PENDING / line.len() + 100) {
            writer.append(&line);
        }
        let pending = writer.shared.lock();
        assert!(pending.lines.len() <= MAX_PENDING);
        assert_eq!(pending.dropped, 100);
        drop(pending);
        drop(held);
        drop(flusher);
        let written = sink.0.lock().unwrap().0.len();
        assert_eq!(written, (MAX_PENDING / line.len() + 1) * line.len());
    }

    #[test]
    fn stopping_does_not_wait_for_a_stalled_disk_forever() {
        struct Stalled(Arc<Mutex<()>>);
        impl Write for Stalled {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                let _wait = self.0.lock().unwrap();
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        let (writer, flusher) = Batched::new("test.log", Stalled(gate.clone()));
        writer.append(b"stuck\n");
        // Returns although the writer thread cannot finish (the process may exit).
        drop(flusher);
        drop(held);
    }
}
