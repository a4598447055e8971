//! Agent commands are argv templates: `{prompt}`, `{issue_title}`,
//! `{issue_body}`, `{model}`, `{workdir}` and `{yagura}` are filled in one pass, each
//! element stays one argument, and no shell ever parses them.

use std::path::Path;

/// What `{yagura}` stays as in a remote execution's argv; the runner puts
/// its own executable there.
pub const REMOTE_YAGURA: &str = "{yagura}";

/// The values an argv template's placeholders stand for.
pub struct Fill<'a> {
    pub prompt: &'a str,
    pub issue_title: &'a str,
    pub issue_body: &'a str,
    /// The model a client asked for (Team Dashboard's `agent:create`).
    pub model: &'a str,
    pub workdir: &'a Path,
    pub yagura_bin: &'a Path,
}

/// Fills the argv template in one pass, so that a value containing a
/// placeholder is never expanded again. Each element is one argument
/// whatever the values contain: no shell ever parses them.
pub fn fill_template(template: &[String], fill: &Fill<'_>) -> Vec<String> {
    let workdir = fill.workdir.display().to_string();
    let yagura = fill.yagura_bin.display().to_string();
    let values: [(&str, &str); 6] = [
        ("{prompt}", fill.prompt),
        ("{issue_title}", fill.issue_title),
        ("{issue_body}", fill.issue_body),
        ("{model}", fill.model),
        ("{workdir}", &workdir),
        ("{yagura}", &yagura),
    ];
    template
        .iter()
        .map(|arg| {
            let mut out = String::with_capacity(arg.len());
            let mut rest = arg.as_str();
            'scan: while !rest.is_empty() {
                if rest.starts_with('{') {
                    for (name, value) in values {
                        if let Some(tail) = rest.strip_prefix(name) {
                            out.push_str(value);
                            rest = tail;
                            continue 'scan;
                        }
                    }
                }
                let c = rest.chars().next().unwrap_or_default();
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_fills_each_argument_without_a_shell() {
        let t: Vec<String> = ["tool", "--msg", "{prompt}", "--dir={workdir}"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let fill = |prompt| Fill {
            prompt,
            issue_title: "Title {prompt}",
            issue_body: "",
            model: "",
            workdir: Path::new("/w"),
            yagura_bin: Path::new("/bin/yagura"),
        };
        let argv = fill_template(&t, &fill("a; rm -rf / && echo $(whoami)"));
        assert_eq!(
            argv,
            vec!["tool", "--msg", "a; rm -rf / && echo $(whoami)", "--dir=/w"]
        );
        // A value is never expanded again, however it looks.
        let t2: Vec<String> = vec!["{issue_title}|{prompt}".into()];
        assert_eq!(
            fill_template(&t2, &fill("{workdir}")),
            vec!["Title {prompt}|{workdir}"]
        );
    }
}
