//! Property tests of the native dialect: hostile input, generated.
//! `ClientMessage::decode` must answer every text with a message or an
//! error that says what is wrong, never a panic; every frame survives
//! encoding and decoding unchanged.

use proptest::prelude::*;
use serde_json::Value;

use super::*;
use crate::protocol::arb;

/// Field names a browser's frame may carry, and values that fit some.
const FIELDS: &[&str] = &["channel", "executionId", "since", "payload", "id"];
const HINTS: &[&str] = &[
    "agent-execution",
    "executions",
    "workspace",
    "00000000-0000-0000-0000-000000000000",
    "550e8400-e29b-41d4-a716-446655440000",
    "not-a-uuid",
    "",
];

fn channel() -> impl Strategy<Value = Channel> {
    prop_oneof![
        Just(Channel::AgentExecution),
        Just(Channel::Executions),
        Just(Channel::Workspace),
    ]
}

fn execution_id() -> impl Strategy<Value = ExecutionId> {
    arb::uuid().prop_map(ExecutionId)
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        Just(ClientMessage::Ping),
        (
            channel(),
            prop::option::of(execution_id()),
            prop::option::of(any::<u64>()),
        )
            .prop_map(|(channel, execution_id, since)| ClientMessage::Subscribe {
                channel,
                execution_id,
                since,
            }),
        (channel(), prop::option::of(execution_id())).prop_map(|(channel, execution_id)| {
            ClientMessage::Unsubscribe {
                channel,
                execution_id,
            }
        }),
    ]
}

fn error_code() -> impl Strategy<Value = ErrorCode> {
    prop_oneof![
        Just(ErrorCode::InvalidMessage),
        Just(ErrorCode::SubscriptionError),
        Just(ErrorCode::RateLimit),
        Just(ErrorCode::InternalError),
    ]
}

fn agent_type() -> impl Strategy<Value = AgentType> {
    prop::sample::select(AgentType::ALL.to_vec())
}

fn execution_status() -> impl Strategy<Value = ExecutionStatus> {
    prop::sample::select(ExecutionStatus::ALL.to_vec())
}

fn log_level() -> impl Strategy<Value = LogLevel> {
    prop_oneof![
        Just(LogLevel::Debug),
        Just(LogLevel::Info),
        Just(LogLevel::Warn),
        Just(LogLevel::Error),
    ]
}

fn log_stream() -> impl Strategy<Value = LogStream> {
    prop_oneof![
        Just(LogStream::Stdout),
        Just(LogStream::Stderr),
        Just(LogStream::System),
        Just(LogStream::Stdin),
    ]
}

fn line_end() -> impl Strategy<Value = LineEnd> {
    prop_oneof![Just(LineEnd::Lf), Just(LineEnd::Crlf), Just(LineEnd::None)]
}

fn severity() -> impl Strategy<Value = Severity> {
    prop_oneof![
        Just(Severity::Info),
        Just(Severity::Success),
        Just(Severity::Warning),
        Just(Severity::Error),
    ]
}

fn usage() -> impl Strategy<Value = ResourceUsage> {
    (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(cpu_ms, peak_memory_kb, wall_ms)| {
        ResourceUsage {
            cpu_ms,
            peak_memory_kb,
            wall_ms,
        }
    })
}

/// A good part of what the server sends, `batch` nesting included.
fn server_message() -> impl Strategy<Value = ServerMessage> {
    let user =
        (arb::uuid(), arb::text(), arb::text()).prop_map(|(id, username, github)| ConnectedUser {
            id: UserId(id),
            username,
            github_username: github,
        });
    let leaf = prop_oneof![
        (arb::text(), user, arb::timestamp()).prop_map(|(connection_id, user, timestamp)| {
            ServerMessage::Connected {
                connection_id,
                user,
                timestamp,
            }
        }),
        arb::timestamp().prop_map(|timestamp| ServerMessage::Pong { timestamp }),
        (error_code(), arb::text(), arb::timestamp()).prop_map(|(code, message, timestamp)| {
            ServerMessage::Error {
                code,
                message,
                timestamp,
            }
        }),
        (channel(), prop::option::of(execution_id())).prop_map(|(channel, execution_id)| {
            ServerMessage::Subscribed {
                channel,
                execution_id,
            }
        }),
        (channel(), prop::option::of(execution_id())).prop_map(|(channel, execution_id)| {
            ServerMessage::Unsubscribed {
                channel,
                execution_id,
            }
        }),
        channel().prop_map(|channel| ServerMessage::Resync { channel }),
        (
            execution_id(),
            any::<u8>(),
            arb::text(),
            any::<u64>(),
            arb::timestamp(),
        )
            .prop_map(|(execution_id, progress, current_step, seq, timestamp)| {
                ServerMessage::AgentProgress {
                    execution_id,
                    progress,
                    current_step,
                    seq,
                    timestamp,
                }
            }),
        (
            execution_id(),
            log_level(),
            log_stream(),
            arb::text(),
            line_end(),
            any::<u64>(),
            arb::timestamp(),
        )
            .prop_map(
                |(execution_id, level, stream, message, end, seq, timestamp)| {
                    ServerMessage::AgentLog {
                        execution_id,
                        level,
                        stream,
                        message,
                        end,
                        seq,
                        timestamp,
                    }
                }
            ),
        (
            (execution_id(), agent_type(), arb::json()),
            (
                prop::option::of(any::<i32>()),
                prop::option::of(usage()),
                any::<u64>(),
                arb::timestamp(),
            ),
        )
            .prop_map(
                |((execution_id, agent_type, result), (exit_code, usage, seq, timestamp))| {
                    ServerMessage::AgentCompleted {
                        execution_id,
                        agent_type,
                        result,
                        exit_code,
                        usage,
                        seq,
                        timestamp,
                    }
                }
            ),
        (
            (
                execution_id(),
                agent_type(),
                arb::text(),
                arb::text(),
                execution_status()
            ),
            (
                prop::option::of(any::<i32>()),
                prop::option::of(any::<i32>()),
                prop::option::of(usage()),
                any::<u64>(),
                arb::timestamp(),
            ),
        )
            .prop_map(
                |(
                    (execution_id, agent_type, error_message, error_code, status),
                    (exit_code, signal, usage, seq, timestamp),
                )| ServerMessage::AgentFailed {
                    execution_id,
                    agent_type,
                    error_message,
                    error_code,
                    status,
                    exit_code,
                    signal,
                    usage,
                    seq,
                    timestamp,
                }
            ),
        (
            (any::<u64>(), arb::text(), arb::uuid(), arb::uuid()),
            (
                prop_oneof![Just(IssueState::Open), Just(IssueState::Closed)],
                prop::collection::vec(arb::text(), 0..4),
                arb::timestamp(),
            ),
        )
            .prop_map(
                |((issue_number, title, repository, issue), (state, labels, timestamp))| {
                    ServerMessage::IssueUpdated {
                        issue_number,
                        title,
                        repository_id: RepositoryId(repository),
                        issue_id: IssueId(issue),
                        state,
                        labels,
                        timestamp,
                    }
                }
            ),
        (
            arb::uuid(),
            severity(),
            arb::text(),
            arb::text(),
            prop::option::of(arb::text()),
            arb::timestamp(),
        )
            .prop_map(|(id, severity, title, message, action_url, timestamp)| {
                ServerMessage::Notification {
                    id: NotificationId(id),
                    severity,
                    title,
                    message,
                    action_url,
                    timestamp,
                }
            }),
        (arb::text(), arb::text(), any::<bool>(), arb::timestamp()).prop_map(
            |(runner_id, name, online, timestamp)| ServerMessage::RunnerUpdated {
                runner_id,
                name,
                online,
                timestamp,
            }
        ),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop::collection::vec(inner, 0..4).prop_map(|events| ServerMessage::Batch { events })
    })
}

/// What `decode` must have said about `value` (sent as its JSON text).
fn check_decoded(
    value: &Value,
    decoded: &Result<ClientMessage, DecodeError>,
) -> Result<(), TestCaseError> {
    match value.get("type").and_then(Value::as_str) {
        None => prop_assert_eq!(decoded, &Err(DecodeError::MissingType)),
        Some(kind) if !ClientMessage::KNOWN_TYPES.contains(&kind) => {
            prop_assert_eq!(decoded, &Err(DecodeError::UnknownType(kind.to_string())))
        }
        Some(kind) => match decoded {
            Ok(message) => {
                // What was read writes back as a frame of the same type,
                // which reads as the same message.
                let again = serde_json::to_value(message).expect("a message serialises");
                prop_assert_eq!(again["type"].as_str(), Some(kind));
                prop_assert_eq!(&ClientMessage::decode(&again.to_string()), decoded);
            }
            Err(DecodeError::InvalidFields { kind: said, .. }) => {
                prop_assert_eq!(said.as_str(), kind)
            }
            Err(other) => prop_assert!(false, "a {kind:?} frame was refused with {other:?}"),
        },
    }
    Ok(())
}

/// Any text: an error names the way it is wrong; a message reads back.
fn check_text(text: &str) -> Result<(), TestCaseError> {
    let decoded = ClientMessage::decode(text);
    match serde_json::from_str::<Value>(text) {
        Err(_) => prop_assert!(
            matches!(decoded, Err(DecodeError::Json(_))),
            "not JSON, yet {decoded:?}"
        ),
        Ok(value) => check_decoded(&value, &decoded)?,
    }
    Ok(())
}

proptest! {
    #[test]
    fn prop_decode_survives_hostile_text(text in arb::hostile_text()) {
        check_text(&text)?;
    }

    #[test]
    fn prop_decode_survives_any_string(text in any::<String>()) {
        check_text(&text)?;
    }

    #[test]
    fn prop_decode_survives_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        check_text(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn prop_decode_survives_truncated_json(text in arb::truncated_json()) {
        check_text(&text)?;
    }

    #[test]
    fn prop_decode_classifies_any_json(value in arb::json()) {
        check_decoded(&value, &ClientMessage::decode(&value.to_string()))?;
    }

    #[test]
    fn prop_decode_classifies_frame_like_json(
        value in arb::frame_like(ClientMessage::KNOWN_TYPES, FIELDS, HINTS),
    ) {
        check_decoded(&value, &ClientMessage::decode(&value.to_string()))?;
    }

    #[test]
    fn prop_client_messages_round_trip(message in client_message()) {
        let text = serde_json::to_string(&message).expect("a message serialises");
        prop_assert_eq!(ClientMessage::decode(&text), Ok(message));
    }

    #[test]
    fn prop_cut_client_frames_are_json_errors(message in client_message()) {
        let text = serde_json::to_string(&message).expect("a message serialises");
        for cut in (0..text.len()).filter(|&i| text.is_char_boundary(i)) {
            let decoded = ClientMessage::decode(&text[..cut]);
            prop_assert!(
                matches!(decoded, Err(DecodeError::Json(_))),
                "{:?} read as {:?}",
                &text[..cut],
                decoded
            );
        }
    }

    #[test]
    fn prop_server_messages_round_trip(message in server_message()) {
        let text = serde_json::to_string(&message).expect("a message serialises");
        let back: ServerMessage = serde_json::from_str(&text)
            .map_err(|e| TestCaseError::fail(format!("{text} does not read back: {e}")))?;
        prop_assert_eq!(back, message);
    }
}
