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
            rest = after.get(1..).unwrap_or("");
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
}
