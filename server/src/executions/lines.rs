//! Turns a pipe's bytes into lines: split on `\n` (a trailing `\r` is
//! dropped, ANSI escapes are kept), lines longer than [`MAX_LINE`] are cut
//! into pieces, and invalid UTF-8 is replaced rather than lost.

/// Longest line stored as one event; longer ones are split.
pub const MAX_LINE: usize = 64 * 1024;

#[derive(Debug, Default)]
pub struct LineSplitter {
    buf: Vec<u8>,
}

impl LineSplitter {
    /// Adds bytes; complete lines are pushed to `out`.
    pub fn push(&mut self, mut data: &[u8], out: &mut Vec<String>) {
        while let Some(pos) = data.iter().position(|b| *b == b'\n') {
            self.buf.extend_from_slice(&data[..pos]);
            self.emit_full(out);
            let mut line = std::mem::take(&mut self.buf);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            out.push(decode(line));
            data = &data[pos + 1..];
        }
        self.buf.extend_from_slice(data);
        self.emit_full(out);
    }

    /// Emits chunks of `MAX_LINE` bytes while the pending line is longer.
    fn emit_full(&mut self, out: &mut Vec<String>) {
        while self.buf.len() > MAX_LINE {
            // Cut on a character boundary so a multi-byte character stays whole.
            let mut cut = MAX_LINE;
            while cut > MAX_LINE - 4 && !is_boundary(&self.buf, cut) {
                cut -= 1;
            }
            let rest = self.buf.split_off(cut);
            out.push(decode(std::mem::replace(&mut self.buf, rest)));
        }
    }

    /// The partial line waiting for its end, if any (flushed after a pause
    /// in the output so that prompts without a newline still show).
    pub fn take_partial(&mut self) -> Option<String> {
        (!self.buf.is_empty()).then(|| decode(std::mem::take(&mut self.buf)))
    }

    pub fn has_partial(&self) -> bool {
        !self.buf.is_empty()
    }
}

fn is_boundary(bytes: &[u8], i: usize) -> bool {
    i >= bytes.len() || (bytes[i] & 0xC0) != 0x80
}

fn decode(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_across_chunks() {
        let mut s = LineSplitter::default();
        let mut out = vec![];
        s.push(b"one\ntw", &mut out);
        s.push(b"o\r\nthree", &mut out);
        assert_eq!(out, vec!["one", "two"]);
        assert_eq!(s.take_partial().as_deref(), Some("three"));
        assert_eq!(s.take_partial(), None);
    }

    #[test]
    fn keeps_ansi_and_empty_lines_and_replaces_bad_utf8() {
        let mut s = LineSplitter::default();
        let mut out = vec![];
        s.push(b"\x1b[31mred\x1b[0m\n\n\xff ok\n", &mut out);
        assert_eq!(out, vec!["\x1b[31mred\x1b[0m", "", "\u{fffd} ok"]);
    }

    #[test]
    fn cuts_long_lines_on_character_boundaries() {
        let mut s = LineSplitter::default();
        let mut out = vec![];
        let long = "é".repeat(MAX_LINE); // 2 bytes each
        s.push(long.as_bytes(), &mut out);
        s.push(b"\n", &mut out);
        assert_eq!(out.concat(), long);
        assert!(out.iter().all(|l| l.len() <= MAX_LINE));
        assert_eq!(out.len(), 2);
    }
}
