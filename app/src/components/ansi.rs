//! Colours in agent output: ANSI SGR sequences turned into styled spans.
//! Other escape sequences are dropped; the text is never interpreted as HTML.

/// A run of text with the classes its SGR state gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    pub text: String,
    pub class: &'static str,
}

#[derive(Clone, Copy, Default)]
struct Style {
    fg: Option<u8>,
    bold: bool,
}

impl Style {
    fn class(self) -> &'static str {
        match (self.fg, self.bold) {
            (None, false) => "",
            (None, true) => "font-bold",
            (Some(c), bold) => {
                let base = match c % 8 {
                    0 => "text-slate-500",
                    1 => "text-rose-500",
                    2 => "text-emerald-500",
                    3 => "text-amber-500",
                    4 => "text-sky-500",
                    5 => "text-fuchsia-500",
                    6 => "text-cyan-500",
                    _ => "text-slate-200",
                };
                if bold {
                    match base {
                        "text-rose-500" => "text-rose-500 font-bold",
                        "text-emerald-500" => "text-emerald-500 font-bold",
                        "text-amber-500" => "text-amber-500 font-bold",
                        "text-sky-500" => "text-sky-500 font-bold",
                        _ => "font-bold",
                    }
                } else {
                    base
                }
            }
        }
    }
}

pub fn spans(line: &str) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::new();
    let mut style = Style::default();
    let mut rest = line;
    let push = |text: &str, style: Style, out: &mut Vec<Span>| {
        if text.is_empty() {
            return;
        }
        let class = style.class();
        match out.last_mut() {
            Some(last) if last.class == class => last.text.push_str(text),
            _ => out.push(Span {
                text: text.to_string(),
                class,
            }),
        }
    };
    while let Some(esc) = rest.find('\u{1b}') {
        push(&rest[..esc], style, &mut out);
        let after = &rest[esc + 1..];
        if let Some(params) = after.strip_prefix('[') {
            // CSI: parameters, then a final byte in @..~
            let end = params
                .find(|c: char| ('@'..='~').contains(&c))
                .unwrap_or(params.len());
            if params[end..].starts_with('m') {
                apply_sgr(&params[..end], &mut style);
            }
            rest = params.get(end + 1..).unwrap_or("");
        } else {
            // A two-character escape: drop the character after ESC, whatever
            // its width (slicing at byte 1 would drop the rest of the line).
            let mut chars = after.chars();
            chars.next();
            rest = chars.as_str();
        }
    }
    push(rest, style, &mut out);
    out
}

fn apply_sgr(params: &str, style: &mut Style) {
    if params.is_empty() {
        *style = Style::default();
        return;
    }
    for p in params.split(';') {
        match p.parse::<u8>() {
            Ok(0) => *style = Style::default(),
            Ok(1) => style.bold = true,
            Ok(22) => style.bold = false,
            Ok(n @ 30..=37) => style.fg = Some(n - 30),
            Ok(n @ 90..=97) => style.fg = Some(n - 90),
            Ok(39) => style.fg = None,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_become_classes_and_escapes_vanish() {
        let s = spans("plain \u{1b}[32mgreen\u{1b}[0m done \u{1b}[1;31mbad\u{1b}[m\u{1b}[2K");
        assert_eq!(
            s,
            vec![
                Span {
                    text: "plain ".into(),
                    class: ""
                },
                Span {
                    text: "green".into(),
                    class: "text-emerald-500"
                },
                Span {
                    text: " done ".into(),
                    class: ""
                },
                Span {
                    text: "bad".into(),
                    class: "text-rose-500 font-bold"
                },
            ]
        );
        assert_eq!(spans("<b>not html</b>")[0].text, "<b>not html</b>");
        assert_eq!(spans(""), vec![]);
    }

    /// Found by the property tests: ESC before a multi-byte character
    /// dropped the rest of the line.
    #[test]
    fn an_escape_before_a_wide_character_keeps_the_rest() {
        let text: String = spans("a\u{1b}é rest of the line")
            .into_iter()
            .map(|s| s.text)
            .collect();
        assert_eq!(text, "a rest of the line");
    }
}

/// Hostile input, generated: any line becomes spans without a panic, the
/// escapes vanish and the text between them stays.
#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;

    /// Every class a span may have.
    const CLASSES: &[&str] = &[
        "",
        "font-bold",
        "text-slate-500",
        "text-rose-500",
        "text-emerald-500",
        "text-amber-500",
        "text-sky-500",
        "text-fuchsia-500",
        "text-cyan-500",
        "text-slate-200",
        "text-rose-500 font-bold",
        "text-emerald-500 font-bold",
        "text-amber-500 font-bold",
        "text-sky-500 font-bold",
    ];

    /// The colours of SGR 30–37 (and 90–97), in order.
    const COLOURS: [&str; 8] = [
        "text-slate-500",
        "text-rose-500",
        "text-emerald-500",
        "text-amber-500",
        "text-sky-500",
        "text-fuchsia-500",
        "text-cyan-500",
        "text-slate-200",
    ];

    /// Terminal output at its worst: escapes cut short, odd parameters,
    /// OSC titles, multi-byte characters right after ESC.
    fn hostile_line() -> impl Strategy<Value = String> {
        const PIECES: &[&str] = &[
            "\u{1b}",
            "\u{1b}[",
            "\u{1b}[0m",
            "\u{1b}[m",
            "\u{1b}[1;31m",
            "\u{1b}[38;5;196m",
            "\u{1b}[2K",
            "\u{1b}]0;title\u{7}",
            "\u{1b}é",
            "\u{1b}(B",
            "[",
            "m",
            ";",
            "0",
            "1",
            "22",
            "39",
            "97",
            "999999",
            "é",
            "😀",
            "<b>",
            "&",
        ];
        let piece = prop_oneof![
            3 => prop::sample::select(PIECES).prop_map(str::to_string),
            1 => any::<char>().prop_map(String::from),
            1 => any::<String>(),
        ];
        prop::collection::vec(piece, 0..32).prop_map(|pieces| pieces.concat())
    }

    /// Text without ESC.
    fn plain() -> impl Strategy<Value = String> {
        prop::collection::vec(any::<char>(), 0..16).prop_map(|chars| {
            chars
                .into_iter()
                .filter(|c| *c != '\u{1b}')
                .collect::<String>()
        })
    }

    /// A well-formed CSI sequence: parameters of digits and `;`, and a
    /// final byte (`m` for SGR, or another).
    fn csi() -> impl Strategy<Value = String> {
        (
            prop::collection::vec(
                prop::sample::select(vec!["0", "1", "22", "31", "39", "94", ";", "5"]),
                0..5,
            ),
            prop::sample::select(vec!['m', 'm', 'K', 'H', 'J', '@', '~']),
        )
            .prop_map(|(params, last)| format!("\u{1b}[{}{last}", params.concat()))
    }

    fn check(line: &str) -> Result<(), TestCaseError> {
        let out = spans(line);
        for span in &out {
            prop_assert!(!span.text.is_empty(), "an empty span in {out:?}");
            prop_assert!(
                !span.text.contains('\u{1b}'),
                "an escape survived in {out:?}"
            );
            prop_assert!(
                CLASSES.contains(&span.class),
                "unknown class {:?}",
                span.class
            );
        }
        for pair in out.windows(2) {
            prop_assert_ne!(pair[0].class, pair[1].class, "spans not merged: {:?}", out);
        }
        let kept: usize = out.iter().map(|s| s.text.len()).sum();
        prop_assert!(kept <= line.len(), "{kept} bytes out of {}", line.len());
        Ok(())
    }

    proptest! {
        #[test]
        fn prop_spans_survive_hostile_lines(line in hostile_line()) {
            check(&line)?;
        }

        #[test]
        fn prop_spans_survive_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            check(&String::from_utf8_lossy(&bytes))?;
        }

        #[test]
        fn prop_plain_text_is_one_unstyled_span(text in plain()) {
            let expected = if text.is_empty() {
                vec![]
            } else {
                vec![Span { text: text.clone(), class: "" }]
            };
            prop_assert_eq!(spans(&text), expected);
        }

        #[test]
        fn prop_text_between_escapes_stays(
            parts in prop::collection::vec((plain(), csi()), 0..8),
            tail in plain(),
        ) {
            let line: String = parts.iter().map(|(t, e)| format!("{t}{e}")).collect::<String>() + &tail;
            let text: String = parts.iter().map(|(t, _)| t.as_str()).collect::<String>() + &tail;
            let out = spans(&line);
            check(&line)?;
            prop_assert_eq!(out.iter().map(|s| s.text.as_str()).collect::<String>(), text);
        }

        #[test]
        fn prop_foreground_colours_apply_and_reset(
            colour in 0usize..8,
            bright in any::<bool>(),
            text in plain().prop_filter("some text", |t| !t.is_empty()),
            tail in plain(),
        ) {
            let code = colour + if bright { 90 } else { 30 };
            let out = spans(&format!("\u{1b}[{code}m{text}\u{1b}[0m{tail}"));
            let mut expected = vec![Span { text: text.clone(), class: COLOURS[colour] }];
            if !tail.is_empty() {
                expected.push(Span { text: tail.clone(), class: "" });
            }
            prop_assert_eq!(out, expected);
        }
    }
}
