//! Issue bodies: Markdown to HTML that cannot run script.

use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag};

/// Markdown to HTML that cannot run script: raw HTML is shown as text,
/// and links or images with a scheme other than http(s) or mailto lose it.
pub fn render_markdown(source: &str) -> String {
    let parser = Parser::new_ext(
        source,
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS,
    )
    .map(|event| match event {
        Event::Html(text) | Event::InlineHtml(text) => Event::Text(text),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        other => other,
    });
    let mut out = String::with_capacity(source.len() * 3 / 2);
    html::push_html(&mut out, parser);
    out
}

fn safe_url(url: CowStr<'_>) -> CowStr<'_> {
    let lower = url.trim().to_ascii_lowercase();
    let scheme = lower
        .split_once(':')
        .map(|(s, _)| s)
        .filter(|s| !s.contains('/') && !s.contains('?') && !s.contains('#'));
    match scheme {
        None | Some("http") | Some("https") | Some("mailto") => url,
        Some(_) => CowStr::Borrowed("#"),
    }
}

#[cfg(test)]
mod tests {
    use super::render_markdown;

    #[test]
    fn markdown_cannot_carry_script() {
        let html = render_markdown(
            "# Hi\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1)) [y](https://example.com) <img src=x onerror=alert(1)>",
        );
        assert!(html.contains("<h1>Hi</h1>"));
        assert!(!html.contains("<script"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("javascript:"));
        assert!(html.contains(r#"href="https://example.com""#));
        assert!(!html.contains("<img src=x"));
    }
}

/// Hostile input, generated: whatever an issue body holds, the HTML has
/// only the tags and attributes Markdown makes, and no link or image
/// with a scheme other than http(s) or mailto.
#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::render_markdown;

    /// The tags Markdown with tables, strikethrough and task lists makes.
    const TAGS: &[&str] = &[
        "p",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "code",
        "ol",
        "ul",
        "li",
        "em",
        "strong",
        "del",
        "a",
        "img",
        "hr",
        "br",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "input",
    ];
    /// The attributes it writes.
    const ATTRIBUTES: &[&str] = &[
        "href", "src", "alt", "title", "class", "style", "start", "type", "disabled", "checked",
    ];
    const SCHEMES: &[&str] = &["http", "https", "mailto"];

    /// Markdown's syntax, raw HTML and URL tricks, mixed with anything.
    fn hostile_markdown() -> impl Strategy<Value = String> {
        const PIECES: &[&str] = &[
            "<script>alert(1)</script>",
            "<SCRIPT>",
            "<img src=x onerror=alert(1)>",
            "<a href=\"javascript:alert(1)\">",
            "<iframe src=//x>",
            "<div onclick=x>",
            "<!-- c -->",
            "<",
            ">",
            "/",
            "[x](",
            "](",
            "![",
            "[r]: ",
            "[r]",
            ")",
            "<http://a>",
            "javascript:",
            "JaVaScRiPt:",
            "vbscript:",
            "data:text/html,",
            "java\tscript:",
            "http://a",
            "mailto:a@b",
            "&#58;",
            "&colon;",
            "&amp;",
            "&#x6A;avascript:",
            "\"",
            "'",
            "\\",
            "%0a",
            "\n",
            "\n\n",
            "|",
            "| --- |",
            "---",
            "- [ ] ",
            "- [x] ",
            "1. ",
            "```",
            "`",
            "*",
            "_",
            "~~",
            "# ",
            "> ",
            "    ",
            " onerror=",
        ];
        let piece = prop_oneof![
            4 => prop::sample::select(PIECES).prop_map(str::to_string),
            1 => any::<char>().prop_map(String::from),
            1 => any::<String>(),
        ];
        prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
    }

    /// A link, image, autolink or reference with a URL that may be hostile.
    fn link() -> impl Strategy<Value = String> {
        let scheme = prop::sample::select(vec![
            "javascript:",
            "JAVASCRIPT:",
            " javascript:",
            "vbscript:",
            "data:",
            "file:",
            "http:",
            "https:",
            "mailto:",
            "",
            "/",
            "#",
        ]);
        (scheme, "[a-z0-9():/.%&#;]{0,12}", "[a-z ]{0,6}", 0u8..5).prop_map(
            |(scheme, rest, text, form)| match form {
                0 => format!("[{text}]({scheme}{rest})"),
                1 => format!("![{text}]({scheme}{rest})"),
                2 => format!("<{scheme}{rest}>"),
                3 => format!("[{text}][r]\n\n[r]: {scheme}{rest}"),
                _ => format!("[{text}](<{scheme}{rest}> \"t\")"),
            },
        )
    }

    /// The scheme a browser would see in an attribute's value, if any.
    fn scheme_of(value: &str) -> Option<String> {
        let value = value
            .replace("&#x27;", "'")
            .replace("&quot;", "\"")
            .replace("&amp;", "&");
        let (head, _) = value.split_once(':')?;
        let mut chars = head.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        valid.then(|| head.to_ascii_lowercase())
    }

    /// Every tag in `html`: its name and attributes are Markdown's, and
    /// its URLs have safe schemes. Text is escaped, so every `<` opens a
    /// tag, and attribute values are escaped, so every `>` closes one.
    fn check(source: &str) -> Result<(), TestCaseError> {
        let html = render_markdown(source);
        let mut rest = html.as_str();
        while let Some(open) = rest.find('<') {
            let after = &rest[open + 1..];
            let Some(close) = after.find('>') else {
                return Err(TestCaseError::fail(format!(
                    "a tag never closes in {html:?}"
                )));
            };
            let tag = &after[..close];
            rest = &after[close + 1..];
            let body = tag.strip_prefix('/').unwrap_or(tag);
            let name: String = body
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect();
            prop_assert!(TAGS.contains(&name.as_str()), "<{tag}> from {source:?}");
            // Attributes: `name="value"`, values without a raw `"`.
            let mut outside = String::new();
            let mut values = Vec::new();
            let mut quoted = false;
            for part in body[name.len()..].split('"') {
                if quoted {
                    values.push((outside.trim_end().to_string(), part));
                } else {
                    outside.push_str(part);
                    outside.push(' ');
                }
                quoted = !quoted;
            }
            for word in outside.split(|c: char| c.is_whitespace() || c == '=' || c == '/') {
                prop_assert!(
                    word.is_empty() || ATTRIBUTES.contains(&word),
                    "attribute {word:?} in <{tag}> from {source:?}"
                );
            }
            let urls = values
                .iter()
                .filter(|(before, _)| before.ends_with("href=") || before.ends_with("src="));
            for (_, url) in urls {
                if let Some(scheme) = scheme_of(url) {
                    prop_assert!(
                        SCHEMES.contains(&scheme.as_str()),
                        "{scheme}: in <{tag}> from {source:?}"
                    );
                }
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn prop_hostile_markdown_renders_safely(source in hostile_markdown()) {
            check(&source)?;
        }

        #[test]
        fn prop_any_text_renders_safely(source in any::<String>()) {
            check(&source)?;
        }

        #[test]
        fn prop_any_bytes_render_safely(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            check(&String::from_utf8_lossy(&bytes))?;
        }

        #[test]
        fn prop_links_keep_only_safe_schemes(
            links in prop::collection::vec(link(), 1..4),
            glue in prop::sample::select(vec![" ", "\n", "\n\n", "\n- "]),
        ) {
            check(&links.join(glue))?;
        }

        #[test]
        fn prop_raw_html_is_shown_as_text(
            name in prop::sample::select(vec!["script", "iframe", "style", "object", "svg", "div"]),
            inner in "[a-z =()]{0,12}",
            indent in 0usize..4,
        ) {
            let source = format!("{}<{name} {inner}>x</{name}>", " ".repeat(indent));
            let html = render_markdown(&source);
            prop_assert!(!html.contains(&format!("<{name}")), "{source:?} gave {html:?}");
            prop_assert!(html.contains(&format!("&lt;{name}")), "{source:?} gave {html:?}");
        }
    }
}
