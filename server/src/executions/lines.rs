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

/// Hostile input, generated. What holds exactly: the lines do not depend
/// on how the bytes were chunked; each `\n` ends exactly one line (`Crlf`
/// when a `\r` came right before it); for valid UTF-8 the lines plus their
/// ends give the bytes back, pieces of long lines included (the cap cuts,
/// it never drops), with partial flushes between chunks as well.
#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;

    /// Pieces that matter to the splitter.
    const PIECES: &[&str] = &["\n", "\r\n", "\r", "\r\r\n", "é", "€", "😀", "\u{1b}[31m"];
    /// Characters of every UTF-8 width, to fill long lines with.
    const WIDE: &[&str] = &["a", "é", "€", "😀"];
    /// Invalid UTF-8: a stray byte, characters cut short, a lone `\r`.
    const BROKEN: &[&[u8]] = &[b"\xff", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\r"];

    /// A run from just under to just over the cap (so that, with what
    /// came before, the cap falls anywhere in a multi-byte character).
    fn long_run() -> impl Strategy<Value = String> {
        (prop::sample::select(WIDE), 0usize..16)
            .prop_map(|(c, extra)| c.repeat((MAX_LINE - 8 + extra) / c.len() + 1))
    }

    /// Valid UTF-8: short text, line ends, and now and then a long line.
    fn text() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            6 => prop::collection::vec(any::<char>(), 0..16)
                .prop_map(|chars| chars.into_iter().collect::<String>()),
            4 => prop::sample::select(PIECES).prop_map(str::to_string),
            1 => long_run(),
        ];
        prop::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
    }

    /// Any bytes: as `text`, with invalid UTF-8 thrown in.
    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            3 => prop::collection::vec(any::<u8>(), 0..32),
            3 => text().prop_map(String::into_bytes),
            1 => prop::sample::select(BROKEN).prop_map(<[u8]>::to_vec),
        ];
        prop::collection::vec(piece, 0..6).prop_map(|pieces| pieces.concat())
    }

    /// Where to cut `len` bytes into chunks (sorted, repeats allowed).
    fn cuts(indices: &[prop::sample::Index], len: usize) -> Vec<usize> {
        let mut cuts: Vec<usize> = indices.iter().map(|i| i.index(len + 1)).collect();
        cuts.sort_unstable();
        cuts
    }

    /// Feeds `input` cut at `cuts`, then finishes the stream.
    fn feed(input: &[u8], cuts: &[usize]) -> Vec<(String, LineEnd)> {
        let mut splitter = LineSplitter::default();
        let mut out = vec![];
        let mut at = 0;
        for &cut in cuts {
            splitter.push(&input[at..cut], &mut out);
            at = cut;
        }
        splitter.push(&input[at..], &mut out);
        out.extend(splitter.finish());
        out
    }

    /// What the lines say the stream held.
    fn joined(lines: &[(String, LineEnd)]) -> String {
        lines
            .iter()
            .map(|(text, end)| format!("{text}{}", end.as_str()))
            .collect()
    }

    fn config() -> ProptestConfig {
        ProptestConfig {
            cases: 128,
            ..ProptestConfig::default()
        }
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn prop_chunking_does_not_change_the_lines(
            input in bytes(),
            at in prop::collection::vec(any::<prop::sample::Index>(), 0..16),
        ) {
            let whole = feed(&input, &[]);
            prop_assert_eq!(feed(&input, &cuts(&at, input.len())), whole);
        }

        #[test]
        fn prop_every_newline_ends_one_line(input in bytes()) {
            let lines = feed(&input, &[]);
            let newlines = input.iter().filter(|b| **b == b'\n').count();
            let crlfs = input.windows(2).filter(|w| *w == b"\r\n").count();
            let ended = lines.iter().filter(|(_, end)| *end != LineEnd::None).count();
            let ended_crlf = lines.iter().filter(|(_, end)| *end == LineEnd::Crlf).count();
            prop_assert_eq!(ended, newlines);
            prop_assert_eq!(ended_crlf, crlfs);
            for (text, end) in &lines {
                prop_assert!(!text.contains('\n'), "a newline inside {text:?}");
                prop_assert!(*end != LineEnd::None || !text.is_empty(), "an empty piece");
            }
        }

        #[test]
        fn prop_valid_utf8_comes_back_exactly(
            input in text(),
            at in prop::collection::vec(any::<prop::sample::Index>(), 0..16),
        ) {
            let lines = feed(input.as_bytes(), &cuts(&at, input.len()));
            prop_assert_eq!(joined(&lines), input);
            for (text, _) in &lines {
                prop_assert!(text.len() <= MAX_LINE, "a line of {} bytes", text.len());
            }
        }

        #[test]
        fn prop_partial_flushes_keep_the_bytes(
            input in text(),
            at in prop::collection::vec((any::<prop::sample::Index>(), any::<bool>()), 0..16),
        ) {
            // Chunks end on character boundaries, as a partial flush of a
            // pipe's output would see them after a pause.
            let mut points: Vec<(usize, bool)> = at
                .iter()
                .map(|(i, pause)| {
                    let mut cut = i.index(input.len() + 1);
                    while !input.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    (cut, *pause)
                })
                .collect();
            points.sort_unstable();
            let mut splitter = LineSplitter::default();
            let mut out = vec![];
            let mut from = 0;
            for (cut, pause) in points {
                splitter.push(&input.as_bytes()[from..cut], &mut out);
                from = cut;
                if pause && splitter.has_partial() {
                    let partial = splitter.take_partial();
                    prop_assert!(partial.is_some(), "has_partial, yet nothing to take");
                    out.extend(partial);
                }
            }
            splitter.push(&input.as_bytes()[from..], &mut out);
            out.extend(splitter.finish());
            prop_assert_eq!(joined(&out), input);
        }
    }
}
