//! Syntax highlighting of diff lines on the server (syntect, with its
//! bundled grammars and a pure-Rust regex engine). The output is escaped
//! text in `<span class="hl-…">` elements, one balanced fragment per line;
//! the colours are the stylesheet's (`style/main.css`), light and dark.

use std::fmt::Write;
use std::sync::LazyLock;

use syntect::html::{line_tokens_to_classed_spans, ClassStyle};
use syntect::parsing::{ParseState, Scope, ScopeStack, SyntaxReference, SyntaxSet};

static SYNTAXES: LazyLock<SyntaxSet> = LazyLock::new(SyntaxSet::load_defaults_newlines);

const STYLE: ClassStyle = ClassStyle::SpacedPrefixed { prefix: "hl-" };

/// Lines longer than this are shown without highlighting (minified files
/// would cost seconds to parse).
const LONGEST_HIGHLIGHTED: usize = 2000;

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn syntax_for(path: &str) -> Option<&'static SyntaxReference> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or(name);
    SYNTAXES
        .find_syntax_by_extension(ext)
        .or_else(|| SYNTAXES.find_syntax_by_extension(name))
        .filter(|s| s.name != "Plain Text")
}

fn open_tag(out: &mut String, scope: Scope) {
    let name = scope.build_string();
    out.push_str("<span class=\"");
    for (i, atom) in name.split('.').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "hl-{}", escape(atom));
    }
    out.push_str("\">");
}

/// Each of `lines` (consecutive lines of the file at `path`) as HTML.
/// A file type without a grammar, or a line the grammar cannot parse, is
/// escaped plain text.
pub fn highlight(path: &str, lines: &[&str]) -> Vec<String> {
    let Some(syntax) = syntax_for(path) else {
        return lines.iter().map(|l| escape(l)).collect();
    };
    let mut state = ParseState::new(syntax);
    let mut stack = ScopeStack::new();
    let mut plain = false;
    lines
        .iter()
        .map(|line| {
            if plain || line.len() > LONGEST_HIGHLIGHTED {
                return escape(line);
            }
            let text = format!("{line}\n");
            let mut html = String::new();
            for scope in stack.as_slice() {
                open_tag(&mut html, *scope);
            }
            let spans = state
                .parse_line(&text, &SYNTAXES)
                .ok()
                .and_then(|ops| line_tokens_to_classed_spans(&text, &ops, STYLE, &mut stack).ok());
            match spans {
                Some((spans, _)) => {
                    html.push_str(&spans.replace('\n', ""));
                    for _ in 0..stack.len() {
                        html.push_str("</span>");
                    }
                    html
                }
                None => {
                    // Its state is unknown from here on.
                    plain = true;
                    escape(line)
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balanced(html: &str) -> bool {
        html.matches("<span").count() == html.matches("</span>").count()
    }

    #[test]
    fn rust_is_highlighted_line_by_line() {
        let lines = [
            "fn main() {",
            "    /* a comment",
            "       that goes on */ let x = \"<b>\";",
            "}",
        ];
        let html = highlight("src/main.rs", &lines);
        assert_eq!(html.len(), 4);
        assert!(
            html[0].contains("hl-keyword") || html[0].contains("hl-storage"),
            "{}",
            html[0]
        );
        // The comment spans two lines: each line is closed and reopened.
        assert!(html[1].contains("hl-comment"), "{}", html[1]);
        let reopened = html[2].split("that goes on").next().unwrap();
        assert!(
            reopened.starts_with("<span class=\"hl-source hl-rust\">")
                && reopened.contains("<span class=\"hl-comment"),
            "{}",
            html[2]
        );
        assert!(html[2].contains("&lt;b&gt;"), "escaped: {}", html[2]);
        assert!(html.iter().all(|h| balanced(h)), "{html:?}");
        assert!(html.iter().all(|h| !h.contains('\n')));
    }

    #[test]
    fn unknown_types_are_escaped_text() {
        assert_eq!(
            highlight("notes.unknownext", &["a <b> & 'c'"]),
            vec!["a &lt;b&gt; &amp; &#39;c&#39;".to_string()]
        );
        assert_eq!(highlight("Makefile", &["all:"]).len(), 1);
    }
}
