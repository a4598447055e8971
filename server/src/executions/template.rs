//! Agent commands are argv templates: `{prompt}`, `{issue.title}`,
//! `{issue.body}` (also spelt `{issue_title}`, `{issue_body}`), `{model}`,
//! `{workdir}` and `{yagura}` are filled in one pass, each element stays one
//! argument, and no shell ever parses them.

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
    // A shell-script agent's script is shell code: nothing is pasted into
    // it. Its values reach it as "$1", "$2", "$3" (the arguments after it).
    let script = app::model::shell_script(template).map(|_| 2);
    let workdir = fill.workdir.display().to_string();
    let yagura = fill.yagura_bin.display().to_string();
    let values: [(&str, &str); 8] = [
        ("{prompt}", fill.prompt),
        ("{issue.title}", fill.issue_title),
        ("{issue.body}", fill.issue_body),
        ("{issue_title}", fill.issue_title),
        ("{issue_body}", fill.issue_body),
        ("{model}", fill.model),
        ("{workdir}", &workdir),
        ("{yagura}", &yagura),
    ];
    template
        .iter()
        .enumerate()
        .map(|(i, arg)| {
            if Some(i) == script {
                return arg.clone();
            }
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
        // A shell script's code is never filled: values are its arguments.
        let script = app::model::shell_command("echo {prompt} \"$1\"");
        let argv = fill_template(&script, &fill("$(reboot)"));
        assert_eq!(argv[2], "echo {prompt} \"$1\"");
        assert_eq!(
            &argv[3..],
            ["yagura-agent", "$(reboot)", "Title {prompt}", ""]
        );
        // One spelling with workflows, the old one still works.
        let t3: Vec<String> = vec!["{issue.title}/{issue_title}".into()];
        assert_eq!(
            fill_template(&t3, &fill("")),
            vec!["Title {prompt}/Title {prompt}"]
        );
    }
}
