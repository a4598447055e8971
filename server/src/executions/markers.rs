//! The progress protocol an agent may speak on stdout or stderr:
//!
//! - `::progress <0-100> <step text>`
//! - `::progress {"progress": 40, "currentStep": "Running tests"}`
//! - `::result {json}` (the execution's result, e.g. `{"prNumber": 12}`)
//!
//! Marker lines are stored as ordinary log lines too.

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq)]
pub enum Marker {
    Progress { progress: u8, step: String },
    Result(serde_json::Value),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonProgress {
    progress: f64,
    #[serde(default, alias = "step")]
    current_step: String,
}

pub fn parse(line: &str) -> Option<Marker> {
    let line = line.trim_end();
    if let Some(rest) = line.strip_prefix("::progress ") {
        let rest = rest.trim_start();
        if rest.starts_with('{') {
            let p: JsonProgress = serde_json::from_str(rest).ok()?;
            return Some(Marker::Progress {
                progress: clamp(p.progress),
                step: p.current_step,
            });
        }
        let (number, step) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let value: f64 = number.trim_end_matches('%').parse().ok()?;
        return Some(Marker::Progress {
            progress: clamp(value),
            step: step.trim().to_string(),
        });
    }
    if let Some(rest) = line.strip_prefix("::result ") {
        return serde_json::from_str(rest.trim()).ok().map(Marker::Result);
    }
    None
}

fn clamp(v: f64) -> u8 {
    if v.is_nan() {
        0
    } else {
        v.clamp(0.0, 100.0).round() as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_and_json_progress() {
        assert_eq!(
            parse("::progress 40 Running tests"),
            Some(Marker::Progress {
                progress: 40,
                step: "Running tests".into()
            })
        );
        assert_eq!(
            parse("::progress 250"),
            Some(Marker::Progress {
                progress: 100,
                step: String::new()
            })
        );
        assert_eq!(
            parse(r#"::progress {"progress": 12.6, "currentStep": "Cloning"}"#),
            Some(Marker::Progress {
                progress: 13,
                step: "Cloning".into()
            })
        );
        assert_eq!(parse("::progress lots"), None);
        assert_eq!(parse("progress 40"), None);
    }

    #[test]
    fn result_needs_valid_json() {
        assert_eq!(
            parse(r#"::result {"prNumber": 145}"#),
            Some(Marker::Result(json!({"prNumber": 145})))
        );
        assert_eq!(parse("::result {oops"), None);
    }
}
