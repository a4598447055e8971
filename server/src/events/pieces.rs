//! Lines longer than the longest stored line come in pieces (see
//! `executions::lines`); usage is read from the whole line, so a Claude
//! Code result printed on one long line still counts. Pieces of a line are
//! held per execution and stream until the piece that ends it, at most
//! [`MAX_HELD`] bytes: a longer line is not read for usage.

use std::borrow::Cow;
use std::collections::HashMap;

use app::model::{ExecutionId, LineEnd, LogStream};

/// Longest line read for usage (1 MiB).
pub const MAX_HELD: usize = 1 << 20;

#[derive(Debug, Default)]
pub struct Pieces {
    /// The line so far; `None` once it grew past [`MAX_HELD`].
    held: HashMap<(ExecutionId, LogStream), Option<String>>,
}

impl Pieces {
    /// The whole line that `message` ends, or `None` while the line goes on
    /// (or when it was too long to hold).
    pub fn whole<'a>(
        &mut self,
        id: ExecutionId,
        stream: LogStream,
        message: &'a str,
        end: LineEnd,
    ) -> Option<Cow<'a, str>> {
        let key = (id, stream);
        if end == LineEnd::None {
            let held = self.held.entry(key).or_insert_with(|| Some(String::new()));
            if let Some(line) = held {
                if line.len() + message.len() <= MAX_HELD {
                    line.push_str(message);
                } else {
                    *held = None;
                }
            }
            return None;
        }
        match self.held.remove(&key) {
            None => Some(Cow::Borrowed(message)),
            Some(None) => None,
            Some(Some(mut line)) if line.len() + message.len() <= MAX_HELD => {
                line.push_str(message);
                Some(Cow::Owned(line))
            }
            Some(Some(_)) => None,
        }
    }

    /// Drops what is held for an execution that ended.
    pub fn forget(&mut self, id: ExecutionId) {
        self.held.retain(|(held, _), _| *held != id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_make_the_whole_line_per_stream() {
        let id = ExecutionId(uuid::Uuid::from_u128(1));
        let mut p = Pieces::default();
        assert_eq!(
            p.whole(id, LogStream::Stdout, "short", LineEnd::Lf)
                .as_deref(),
            Some("short")
        );
        assert_eq!(
            p.whole(id, LogStream::Stdout, "{\"a\":", LineEnd::None),
            None
        );
        // A whole stderr line in between is its own.
        assert_eq!(
            p.whole(id, LogStream::Stderr, "warn", LineEnd::Lf)
                .as_deref(),
            Some("warn")
        );
        assert_eq!(
            p.whole(id, LogStream::Stdout, "1}", LineEnd::Crlf)
                .as_deref(),
            Some("{\"a\":1}")
        );
        // Held no more once used.
        assert_eq!(
            p.whole(id, LogStream::Stdout, "next", LineEnd::Lf)
                .as_deref(),
            Some("next")
        );
    }

    #[test]
    fn a_line_past_the_limit_is_not_read_and_an_ended_run_is_forgotten() {
        let id = ExecutionId(uuid::Uuid::from_u128(2));
        let mut p = Pieces::default();
        let piece = "x".repeat(64 * 1024);
        for _ in 0..(MAX_HELD / piece.len() + 1) {
            assert_eq!(p.whole(id, LogStream::Stdout, &piece, LineEnd::None), None);
        }
        assert_eq!(p.whole(id, LogStream::Stdout, "end", LineEnd::Lf), None);
        // The next line is read again.
        assert_eq!(
            p.whole(id, LogStream::Stdout, "after", LineEnd::Lf)
                .as_deref(),
            Some("after")
        );
        assert_eq!(p.whole(id, LogStream::Stdout, "held", LineEnd::None), None);
        p.forget(id);
        assert!(p.held.is_empty());
    }
}
