//! Generators shared by the dialects' property tests ("hostile input,
//! generated"): JSON values of any shape, text that is almost JSON, frames
//! that are almost right.

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Any JSON value: scalars, and arrays and objects nested a few deep.
/// Numbers are integers or multiples of 1/8, which print and read back
/// exactly (serde_json reads other floats to within one ulp only).
pub fn json() -> impl Strategy<Value = Value> {
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
pub fn dyadic() -> impl Strategy<Value = f64> {
    (-8_000_000i32..8_000_000).prop_map(|n| f64::from(n) / 8.0)
}

/// Short text of any characters: controls, quotes, backslashes, lone
/// combining marks, astral planes.
pub fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..12)
        .prop_map(|chars| chars.into_iter().collect::<String>())
}

/// Text made of JSON's own pieces and anything else: mostly broken JSON.
pub fn hostile_text() -> impl Strategy<Value = String> {
    const PIECES: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ":",
        ",",
        "\"",
        "\\",
        "\\u",
        "\\ud800",
        "\\u0000",
        "null",
        "true",
        "false",
        "-",
        "0",
        "-0",
        "1e999",
        "1.5e-400",
        "18446744073709551616",
        "\"type\"",
        "\"payload\"",
        "\"ping\"",
        "\"auth\"",
        " ",
        "\n",
        "\u{0}",
        "\u{feff}",
        "\u{2028}",
    ];
    let piece = prop_oneof![
        3 => prop::sample::select(PIECES).prop_map(str::to_string),
        1 => any::<char>().prop_map(String::from),
        1 => any::<String>(),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

/// A valid JSON document cut anywhere (on a character boundary).
pub fn truncated_json() -> impl Strategy<Value = String> {
    (json(), any::<prop::sample::Index>()).prop_map(|(value, at)| {
        let text = value.to_string();
        let mut cut = at.index(text.len() + 1);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text[..cut].to_string()
    })
}

/// An object that looks like a frame: perhaps a `type` (mostly one of
/// `types`, else any string or any JSON value), and some of `fields` with
/// values that are mostly plausible (`hints`), else any JSON.
pub fn frame_like(
    types: &'static [&'static str],
    fields: &'static [&'static str],
    hints: &'static [&'static str],
) -> impl Strategy<Value = Value> {
    let kind = prop_oneof![
        4 => prop::sample::select(types).prop_map(|t| Value::String(t.to_string())),
        1 => text().prop_map(Value::String),
        1 => json(),
    ];
    let value = prop_oneof![
        2 => prop::sample::select(hints).prop_map(|h| Value::String(h.to_string())),
        1 => any::<u64>().prop_map(Value::from),
        2 => json(),
    ];
    let member = (prop::sample::select(fields).prop_map(str::to_string), value);
    (
        prop::option::weighted(0.9, kind),
        prop::collection::vec(member, 0..6),
    )
        .prop_map(|(kind, members)| {
            let mut map: Map<String, Value> = members.into_iter().collect();
            if let Some(kind) = kind {
                map.insert("type".into(), kind);
            }
            Value::Object(map)
        })
}

/// Any instant from 1970 to 9999, to the nanosecond.
pub fn timestamp() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..253_402_300_799, 0u32..1_000_000_000).prop_map(|(secs, nanos)| {
        DateTime::<Utc>::from_timestamp(secs, nanos).expect("in chrono's range")
    })
}

/// Any UUID.
pub fn uuid() -> impl Strategy<Value = uuid::Uuid> {
    any::<u128>().prop_map(uuid::Uuid::from_u128)
}
