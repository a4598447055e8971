//! Turns a pipe's bytes into lines: split on `\n`, lines longer than
//! [`MAX_LINE`] cut into pieces, invalid UTF-8 replaced rather than lost,
//! ANSI escapes kept. Each line says how it ended ([`LineEnd`]: `\n`,
//! `\r\n`, or nothing for a piece or a partial line), so the bytes as
//! written can be given back exactly: the text plus its end.

use app::model::LineEnd;

/// Longest line stored as one event; longer ones are split.
pub const MAX_LINE: usize = 64 * 1024;

#[derive(Debug, Default)]
pub struct LineSplitter {
    buf: Vec<u8>,
}

impl LineSplitter {
    /// Adds bytes; complete lines are pushed to `out`.
    pub fn push(&mut self, mut data: &[u8], out: &mut Vec<(String, LineEnd)>) {
        while let Some(pos) = data.iter().position(|b| *b == b'\n') {
            self.buf.extend_from_slice(&data[..pos]);
            self.emit_full(out);
            let mut line = std::mem::take(&mut self.buf);
            let end = if line.last() == Some(&b'\r') {
                line.pop();
                LineEnd::Crlf
            } else {
                LineEnd::Lf
            };
            out.push((decode(line), end));
            data = &data[pos + 1..];
        }
        self.buf.extend_from_slice(data);
        self.emit_full(out);
    }

    /// Emits chunks of `MAX_LINE` bytes while the pending line is longer.
    fn emit_full(&mut self, out: &mut Vec<(String, LineEnd)>) {
        while self.buf.len() > MAX_LINE {
            // Cut on a character boundary so a multi-byte character stays whole.
            let mut cut = MAX_LINE;
            while cut > MAX_LINE - 4 && !is_boundary(&self.buf, cut) {
                cut -= 1;
            }
            let rest = self.buf.split_off(cut);
            out.push((
                decode(std::mem::replace(&mut self.buf, rest)),
                LineEnd::None,
            ));
        }
    }

    /// The partial line waiting for its end, if any (flushed after a pause
    /// in the output so that prompts without a newline still show). A `\r`
    /// it ends with stays back: it may be half of a `\r\n`.
    pub fn take_partial(&mut self) -> Option<(String, LineEnd)> {
        let keep_cr = self.buf.len() > 1 && self.buf.last() == Some(&b'\r');
        let held = if keep_cr { self.buf.pop() } else { None };
        let out =
            (!self.buf.is_empty()).then(|| (decode(std::mem::take(&mut self.buf)), LineEnd::None));
        if let Some(cr) = held {
            self.buf.push(cr);
        }
        out
    }

    /// Everything left, at the end of the stream (a lone `\r` included).
    pub fn finish(&mut self) -> Option<(String, LineEnd)> {
        (!self.buf.is_empty()).then(|| (decode(std::mem::take(&mut self.buf)), LineEnd::None))
    }

    /// Whether a partial line waits (a lone `\r`, perhaps half of a
    /// `\r\n`, does not count).
    pub fn has_partial(&self) -> bool {
        !(self.buf.is_empty() || self.buf == b"\r")
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

    fn texts(lines: &[(String, LineEnd)]) -> Vec<&str> {
        lines.iter().map(|(t, _)| t.as_str()).collect()
    }

    /// What the lines say the stream held.
    fn bytes(lines: &[(String, LineEnd)]) -> String {
        lines
            .iter()
            .map(|(t, e)| format!("{t}{}", e.as_str()))
            .collect()
    }

    #[test]
    fn splits_lines_across_chunks() {
        let mut s = LineSplitter::default();
        let mut out = vec![];
        s.push(b"one\ntw", &mut out);
        s.push(b"o\r\nthree", &mut out);
        assert_eq!(texts(&out), vec!["one", "two"]);
        assert_eq!(out[1].1, LineEnd::Crlf);
        assert_eq!(s.take_partial(), Some(("three".to_string(), LineEnd::None)));
        assert_eq!(s.take_partial(), None);
    }

    #[test]
    fn keeps_ansi_and_empty_lines_and_replaces_bad_utf8() {
        let mut s = LineSplitter::default();
        let mut out = vec![];
        s.push(b"\x1b[31mred\x1b[0m\n\n\xff ok\n", &mut out);
        assert_eq!(texts(&out), vec!["\x1b[31mred\x1b[0m", "", "\u{fffd} ok"]);
    }

    #[test]
    fn cuts_long_lines_on_character_boundaries() {
        let mut s = LineSplitter::default();
        let mut out = vec![];
        let long = "é".repeat(MAX_LINE); // 2 bytes each
        s.push(long.as_bytes(), &mut out);
        s.push(b"\n", &mut out);
        assert_eq!(texts(&out).concat(), long);
        assert!(out.iter().all(|(l, _)| l.len() <= MAX_LINE));
        assert_eq!(out.len(), 2);
        assert_eq!(bytes(&out), format!("{long}\n"));
    }

    #[test]
    fn gives_back_the_bytes_as_written() {
        let written = "Name? \r\nprogress 10%\rprogress 90%\r\ndone\n\nno end";
        let mut s = LineSplitter::default();
        let mut out = vec![];
        // In awkward pieces, with a pause (a partial flush) after the prompt.
        s.push(b"Name? \r", &mut out);
        out.extend(s.take_partial());
        s.push(b"\nprogress 10%\rprogress 90%\r", &mut out);
        s.push(b"\ndone\n\nno end", &mut out);
        out.extend(s.finish());
        assert_eq!(bytes(&out), written);
        assert_eq!(out[0], ("Name? ".to_string(), LineEnd::None));
    }
}
