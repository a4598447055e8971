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

/// Hostile input, generated: any line is a marker or none, never a panic;
/// markers written as the protocol says read back as written. The JSON
/// generators are shared with the other modules' property tests.
#[cfg(test)]
pub(crate) mod props {
    use proptest::prelude::*;
    use serde_json::{json, Map, Value};

    use super::*;

    /// Any JSON value: scalars, and arrays and objects nested a few deep.
    /// Numbers are integers or multiples of 1/8, which print and read back
    /// exactly (serde_json reads other floats to within one ulp only).
    pub(crate) fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            dyadic().prop_map(Value::from),
            text().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((text(), inner), 0..6)
                    .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }

    /// A float that prints and reads back exactly.
    pub(crate) fn dyadic() -> impl Strategy<Value = f64> {
        (-8_000_000i32..8_000_000).prop_map(|n| f64::from(n) / 8.0)
    }

    /// Short text of any characters: controls, quotes, backslashes,
    /// combining marks, astral planes.
    pub(crate) fn text() -> impl Strategy<Value = String> {
        prop::collection::vec(any::<char>(), 0..12)
            .prop_map(|chars| chars.into_iter().collect::<String>())
    }

    /// Lines that are nearly markers.
    fn hostile_line() -> impl Strategy<Value = String> {
        const PIECES: &[&str] = &[
            "::progress ",
            "::result ",
            "::progress",
            "::",
            " ",
            "\t",
            "\u{3000}",
            "%",
            "-",
            ".",
            "0",
            "40",
            "100",
            "1e999",
            "NaN",
            "inf",
            "{",
            "}",
            "\"progress\"",
            "\"currentStep\"",
            "\"step\"",
            ":",
            ",",
            "\"",
            "null",
        ];
        let piece = prop_oneof![
            4 => prop::sample::select(PIECES).prop_map(str::to_string),
            1 => any::<char>().prop_map(String::from),
            1 => any::<String>(),
        ];
        prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
    }

    fn check(line: &str) -> Result<(), TestCaseError> {
        match parse(line) {
            None => {}
            Some(Marker::Progress { progress, .. }) => {
                prop_assert!(progress <= 100, "{line:?} gave {progress}");
                prop_assert!(line.starts_with("::progress "), "{line:?} read as progress");
            }
            Some(Marker::Result(_)) => {
                prop_assert!(line.starts_with("::result "), "{line:?} read as a result");
            }
        }
        Ok(())
    }

    /// Where a percentage ends up: 0 for NaN, clamped to 0..=100, rounded.
    fn check_percent(value: f64, got: u8) -> Result<(), TestCaseError> {
        if value.is_nan() || value <= 0.0 {
            prop_assert_eq!(got, 0);
        } else if value >= 100.0 {
            prop_assert_eq!(got, 100);
        } else {
            prop_assert!(
                (f64::from(got) - value).abs() <= 0.5,
                "{value} became {got}"
            );
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn prop_parse_survives_hostile_lines(line in hostile_line()) {
            check(&line)?;
        }

        #[test]
        fn prop_parse_survives_any_string(line in any::<String>()) {
            check(&line)?;
        }

        #[test]
        fn prop_parse_survives_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let line = String::from_utf8_lossy(&bytes);
            check(&line)?;
            check(&format!("::progress {line}"))?;
            check(&format!("::result {line}"))?;
        }

        #[test]
        fn prop_text_progress_reads_back(
            progress in 0u8..=100,
            percent in any::<bool>(),
            step in text(),
        ) {
            let sign = if percent { "%" } else { "" };
            let line = format!("::progress {progress}{sign} {step}");
            prop_assert_eq!(
                parse(&line),
                Some(Marker::Progress { progress, step: step.trim().to_string() })
            );
        }

        #[test]
        fn prop_any_number_is_a_percentage(value in any::<f64>()) {
            match parse(&format!("::progress {value} step")) {
                Some(Marker::Progress { progress, step }) => {
                    prop_assert_eq!(step, "step");
                    check_percent(value, progress)?;
                }
                other => return Err(TestCaseError::fail(format!("{value} gave {other:?}"))),
            }
        }

        #[test]
        fn prop_json_progress_reads_back(
            value in dyadic(),
            step in text(),
            alias in any::<bool>(),
        ) {
            let key = if alias { "step" } else { "currentStep" };
            let line = format!("::progress {}", json!({"progress": value, key: step}));
            match parse(&line) {
                Some(Marker::Progress { progress, step: got }) => {
                    prop_assert_eq!(got, step);
                    check_percent(value, progress)?;
                }
                other => return Err(TestCaseError::fail(format!("{line:?} gave {other:?}"))),
            }
        }

        #[test]
        fn prop_results_read_back(value in json_value()) {
            prop_assert_eq!(parse(&format!("::result {value}")), Some(Marker::Result(value.clone())));
            let pretty = serde_json::to_string_pretty(&value).expect("a value serialises");
            prop_assert_eq!(parse(&format!("::result  {pretty}  ")), Some(Marker::Result(value)));
        }
    }
}
