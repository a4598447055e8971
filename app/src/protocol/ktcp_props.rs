//! Property tests of the runner dialect: hostile input, generated. The
//! server reads a runner's frames with `serde_json::from_str::<ClientFrame>`;
//! whatever arrives must give a frame or an error, never a panic, and
//! every frame (both ways) survives encoding and decoding unchanged.

use proptest::prelude::*;
use serde_json::Value;

use super::*;
use crate::protocol::arb;

/// Every `type` a runner or client may send, in the enum's order.
const CLIENT_TYPES: &[&str] = &[
    "authenticate",
    "heartbeat",
    "task_status_update",
    "task_log",
    "task_completed",
    "task_error",
    "task_create",
    "task_read",
    "task_update",
    "task_delete",
    "task_list",
    "task_cancel",
];
const FIELDS: &[&str] = &[
    "token",
    "clientType",
    "capabilities",
    "taskId",
    "requestId",
    "seq",
    "data",
    "timestamp",
    "status",
];
const HINTS: &[&str] = &[
    "provider",
    "client",
    "2024-01-01T10:00:00Z",
    "2024-01-01T10:00:00.123456789+09:00",
    "not a time",
    "t-1",
    "",
];

fn strings() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(arb::text(), 0..4)
}

fn metadata() -> impl Strategy<Value = BTreeMap<String, Value>> {
    prop::collection::btree_map(arb::text(), arb::json(), 0..4)
}

/// A `result` that is there: `Some(null)` reads back as `None`.
fn some_json() -> impl Strategy<Value = Option<Value>> {
    prop::option::of(arb::json().prop_filter("null reads as absent", |v| !v.is_null()))
}

fn usage() -> impl Strategy<Value = ResourceUsageData> {
    (
        arb::dyadic(),
        arb::text(),
        arb::dyadic(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(
            |(cpu_time, memory_peak, execution_time, cpu_ms, peak_memory_kb, wall_ms)| {
                ResourceUsageData {
                    cpu_time,
                    memory_peak,
                    execution_time,
                    cpu_ms,
                    peak_memory_kb,
                    wall_ms,
                }
            },
        )
}

fn delete_options() -> impl Strategy<Value = DeleteOptions> {
    (prop::option::of(arb::text()), any::<bool>())
        .prop_map(|(reason, force)| DeleteOptions { reason, force })
}

/// A task report: its task, its number and when.
fn report() -> impl Strategy<Value = (String, Option<u64>, DateTime<Utc>)> {
    (
        arb::text(),
        prop::option::of(any::<u64>()),
        arb::timestamp(),
    )
}

/// A task operation: its request, and perhaps when.
fn request() -> impl Strategy<Value = (String, Option<DateTime<Utc>>)> {
    (arb::text(), prop::option::of(arb::timestamp()))
}

fn client_frame() -> impl Strategy<Value = ClientFrame> {
    prop_oneof![
        (
            (arb::text(), arb::text(), arb::text(), strings()),
            (
                prop::option::of(arb::text()),
                prop::option::of(any::<u32>()),
                strings()
            ),
        )
            .prop_map(
                |(
                    (token, client_type, client_version, capabilities),
                    (name, concurrency, running_tasks),
                )| ClientFrame::Authenticate {
                    token,
                    client_type,
                    client_version,
                    capabilities,
                    name,
                    concurrency,
                    running_tasks,
                }
            ),
        (arb::timestamp(), arb::text())
            .prop_map(|(timestamp, status)| ClientFrame::Heartbeat { timestamp, status }),
        (
            report(),
            arb::text(),
            prop::option::of(arb::dyadic()),
            prop::option::of(arb::text()),
            prop::option::of(arb::timestamp()),
        )
            .prop_map(
                |((task_id, seq, timestamp), status, progress, message, started_at)| {
                    ClientFrame::TaskStatusUpdate {
                        task_id,
                        seq,
                        data: StatusData {
                            status,
                            progress,
                            message,
                            started_at,
                        },
                        timestamp,
                    }
                }
            ),
        (
            report(),
            arb::text(),
            arb::text(),
            arb::timestamp(),
            metadata()
        )
            .prop_map(
                |((task_id, seq, timestamp), level, message, at, metadata)| {
                    ClientFrame::TaskLog {
                        task_id,
                        seq,
                        data: LogData {
                            level,
                            message,
                            timestamp: at,
                            metadata,
                        },
                        timestamp,
                    }
                }
            ),
        (
            report(),
            arb::text(),
            any::<i32>(),
            arb::timestamp(),
            usage(),
            some_json(),
        )
            .prop_map(
                |(
                    (task_id, seq, timestamp),
                    status,
                    exit_code,
                    completed_at,
                    resource_usage,
                    result,
                )| {
                    ClientFrame::TaskCompleted {
                        task_id,
                        seq,
                        data: CompletedData {
                            status,
                            exit_code,
                            completed_at,
                            resource_usage,
                            result,
                        },
                        timestamp,
                    }
                }
            ),
        (
            report(),
            (arb::text(), arb::text(), arb::text(), arb::timestamp()),
            (
                prop::option::of(any::<i32>()),
                prop::option::of(any::<i32>()),
                prop::option::of(usage()),
            ),
        )
            .prop_map(
                |(
                    (task_id, seq, timestamp),
                    (status, error_code, error_message, failed_at),
                    (exit_code, signal, resource_usage),
                )| ClientFrame::TaskError {
                    task_id,
                    seq,
                    data: ErrorData {
                        status,
                        error_code,
                        error_message,
                        failed_at,
                        exit_code,
                        signal,
                        resource_usage,
                    },
                    timestamp,
                }
            ),
        (
            request(),
            (
                arb::text(),
                arb::text(),
                prop::option::of(any::<u64>()),
                strings()
            ),
            (prop::option::of(arb::text()), arb::text(), metadata()),
        )
            .prop_map(
                |(
                    (request_id, timestamp),
                    (name, description, timeout, tags),
                    (agent_id, prompt, metadata),
                )| ClientFrame::TaskCreate {
                    request_id,
                    data: TaskInput {
                        name,
                        description,
                        timeout,
                        tags,
                        agent_id,
                        prompt,
                        metadata,
                    },
                    timestamp,
                }
            ),
        (request(), arb::text(), any::<bool>(), any::<bool>()).prop_map(
            |((request_id, timestamp), task_id, include_logs, include_metadata)| {
                ClientFrame::TaskRead {
                    request_id,
                    task_id,
                    data: ReadOptions {
                        include_logs,
                        include_metadata,
                    },
                    timestamp,
                }
            }
        ),
        (
            request(),
            arb::text(),
            prop::option::of(arb::text()),
            prop::option::of(arb::text()),
            prop::option::of(any::<u64>()),
            prop::option::of(strings()),
        )
            .prop_map(
                |((request_id, timestamp), task_id, name, description, timeout, tags)| {
                    ClientFrame::TaskUpdate {
                        request_id,
                        task_id,
                        data: TaskChanges {
                            name,
                            description,
                            timeout,
                            tags,
                        },
                        timestamp,
                    }
                }
            ),
        (request(), arb::text(), delete_options()).prop_map(
            |((request_id, timestamp), task_id, data)| ClientFrame::TaskDelete {
                request_id,
                task_id,
                data,
                timestamp,
            }
        ),
        (
            request(),
            (strings(), strings(), prop::option::of(arb::text())),
            (
                prop::option::of(any::<u32>()),
                prop::option::of(any::<u32>()),
                prop::option::of(arb::text()),
                prop::option::of(arb::text()),
            ),
        )
            .prop_map(
                |(
                    (request_id, timestamp),
                    (status, tags, created_by),
                    (limit, offset, sort_by, sort_order),
                )| ClientFrame::TaskList {
                    request_id,
                    data: ListFilter {
                        status,
                        tags,
                        created_by,
                        limit,
                        offset,
                        sort_by,
                        sort_order,
                    },
                    timestamp,
                }
            ),
        (
            arb::text(),
            prop::option::of(arb::text()),
            delete_options(),
            prop::option::of(arb::timestamp()),
        )
            .prop_map(
                |(task_id, request_id, data, timestamp)| ClientFrame::TaskCancel {
                    task_id,
                    request_id,
                    data,
                    timestamp,
                }
            ),
    ]
}

fn server_frame() -> impl Strategy<Value = ServerFrame> {
    let execute = (
        (arb::text(), any::<u64>(), arb::text(), strings(), strings()),
        (
            prop::collection::btree_map(arb::text(), arb::text(), 0..4),
            any::<u64>(),
            arb::text(),
            strings(),
        ),
    )
        .prop_map(
            |(
                (name, timeout, description, tags, argv),
                (env, output_cap_bytes, agent_type, sandbox_paths),
            )| ExecuteData {
                name,
                timeout,
                description,
                tags,
                argv,
                env,
                output_cap_bytes,
                agent_type,
                sandbox_paths,
            },
        );
    prop_oneof![
        (arb::text(), arb::timestamp()).prop_map(|(provider_id, timestamp)| {
            ServerFrame::AuthSuccess {
                provider_id,
                timestamp,
            }
        }),
        (
            prop::option::of(arb::text()),
            prop::option::of(arb::text()),
            (arb::text(), arb::text(), any::<bool>(), arb::timestamp()),
            arb::timestamp(),
        )
            .prop_map(
                |(
                    request_id,
                    task_id,
                    (error_code, error_message, retryable, failed_at),
                    timestamp,
                )| {
                    ServerFrame::GenericError {
                        request_id,
                        task_id,
                        data: GenericErrorData {
                            error_code,
                            error_message,
                            retryable,
                            failed_at,
                        },
                        timestamp,
                    }
                }
            ),
        (arb::text(), execute, arb::timestamp()).prop_map(|(task_id, data, timestamp)| {
            ServerFrame::TaskExecute {
                task_id,
                data,
                timestamp,
            }
        }),
        (arb::text(), arb::text(), any::<bool>(), arb::timestamp()).prop_map(
            |(task_id, reason, force, timestamp)| ServerFrame::TaskCancel {
                task_id,
                data: CancelData { reason, force },
                timestamp,
            }
        ),
        (arb::text(), any::<u64>()).prop_map(|(task_id, seq)| ServerFrame::Ack { task_id, seq }),
        (arb::text(), arb::text(), arb::json(), arb::timestamp()).prop_map(
            |(request_id, task_id, data, timestamp)| ServerFrame::TaskCreateResponse {
                request_id,
                task_id,
                data,
                timestamp,
            }
        ),
        (arb::text(), arb::json(), arb::timestamp()).prop_map(|(request_id, data, timestamp)| {
            ServerFrame::TaskListResponse {
                request_id,
                data,
                timestamp,
            }
        }),
    ]
}

/// What reading `value` as a frame must give: an error unless its `type`
/// is a client frame's, and then a frame of that very type. (serde reads
/// an internally tagged enum from an array too, the tag first, and takes
/// a number for a tag as the variant's index.)
fn check_value(value: &Value) -> Result<(), TestCaseError> {
    let read = serde_json::from_value::<ClientFrame>(value.clone());
    let tag = match value {
        Value::Array(items) => items.first(),
        other => other.get("type"),
    };
    let kind = match tag {
        Some(Value::String(kind)) => Some(kind.as_str()),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| CLIENT_TYPES.get(i).copied()),
        _ => None,
    };
    match (&read, kind) {
        (Ok(frame), Some(kind)) => {
            prop_assert!(CLIENT_TYPES.contains(&kind), "read a {kind:?} frame");
            let again = serde_json::to_value(frame).expect("a frame serialises");
            prop_assert_eq!(again["type"].as_str(), Some(kind));
            // What was read writes back as itself.
            let back: ClientFrame = serde_json::from_value(again)
                .map_err(|e| TestCaseError::fail(format!("{frame:?} does not read back: {e}")))?;
            prop_assert_eq!(&back, frame);
        }
        (Ok(frame), None) => prop_assert!(false, "{value} without a type read as {frame:?}"),
        (Err(_), _) => {}
    }
    Ok(())
}

/// Any text: reading it gives a frame only if it is JSON.
fn check_text(text: &str) -> Result<(), TestCaseError> {
    if let Ok(frame) = serde_json::from_str::<ClientFrame>(text) {
        let json = serde_json::from_str::<serde::de::IgnoredAny>(text);
        prop_assert!(json.is_ok(), "{text:?} is not JSON, yet read as {frame:?}");
    }
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        check_value(&value)?;
    }
    Ok(())
}

proptest! {
    #[test]
    fn prop_client_frames_survive_hostile_text(text in arb::hostile_text()) {
        check_text(&text)?;
    }

    #[test]
    fn prop_client_frames_survive_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        // Read as bytes (no panic), and as the text a socket would hand over.
        if let Ok(frame) = serde_json::from_slice::<ClientFrame>(&bytes) {
            let json = serde_json::from_slice::<serde::de::IgnoredAny>(&bytes);
            prop_assert!(json.is_ok(), "{bytes:?} is not JSON, yet read as {frame:?}");
        }
        check_text(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn prop_client_frames_survive_truncated_json(text in arb::truncated_json()) {
        check_text(&text)?;
    }

    #[test]
    fn prop_client_frames_classify_any_json(value in arb::json()) {
        check_value(&value)?;
    }

    #[test]
    fn prop_client_frames_classify_frame_like_json(
        value in arb::frame_like(CLIENT_TYPES, FIELDS, HINTS),
    ) {
        check_value(&value)?;
    }

    #[test]
    fn prop_client_frames_round_trip(frame in client_frame()) {
        let text = serde_json::to_string(&frame).expect("a frame serialises");
        let back: ClientFrame = serde_json::from_str(&text)
            .map_err(|e| TestCaseError::fail(format!("{text} does not read back: {e}")))?;
        prop_assert_eq!(&back, &frame);
        check_text(&text)?;
        // Reports name their task and number; nothing else does.
        let kind = serde_json::to_value(&frame).expect("a frame serialises")["type"].clone();
        let is_report = matches!(
            kind.as_str(),
            Some("task_status_update" | "task_log" | "task_completed" | "task_error")
        );
        prop_assert_eq!(frame.report().is_some(), is_report);
    }

    #[test]
    fn prop_server_frames_round_trip(frame in server_frame()) {
        let text = serde_json::to_string(&frame).expect("a frame serialises");
        let back: ServerFrame = serde_json::from_str(&text)
            .map_err(|e| TestCaseError::fail(format!("{text} does not read back: {e}")))?;
        prop_assert_eq!(back, frame);
    }
}
