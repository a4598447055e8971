//! The tab's one WebSocket to `/ws` (native dialect), shared through
//! context. It authenticates with the session cookie, reports its state for
//! the connection indicator, and reconnects with exponential backoff and
//! jitter until the server says the session is gone (close 4001).
//!
//! On the server this is inert: views render the same on both sides and the
//! socket only opens after hydration.

use leptos::prelude::*;

use crate::model::ExecutionId;
use crate::protocol::native::ServerMessage;

/// What the connection indicator shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkStatus {
    /// First attempt under way (also what the server renders).
    Connecting,
    /// The server sent `connected`.
    Connected,
    /// The link dropped; attempt `attempt` is scheduled or under way.
    Reconnecting { attempt: u32 },
    /// The server refused the session (close 4001); sign in again.
    SignedOut,
}

impl LinkStatus {
    pub fn label(self) -> &'static str {
        match self {
            LinkStatus::Connecting => "Connecting…",
            LinkStatus::Connected => "Connected",
            LinkStatus::Reconnecting { .. } => "Reconnecting…",
            LinkStatus::SignedOut => "Signed out",
        }
    }
}

#[derive(Clone, Copy)]
pub struct LiveConnection {
    pub status: ReadSignal<LinkStatus>,
    /// The server's id for this socket, as sent in `connected`.
    pub connection_id: ReadSignal<Option<String>>,
    /// The latest lifecycle event of any execution (or `resync`): lists and
    /// the dashboard read it to know when to refresh.
    pub lifecycle: ReadSignal<Option<ServerMessage>>,
    /// The latest workspace event: `issue.*`, `workflow.*`, `notification`,
    /// or `resync` (after a reconnect or a lag: reload what you show).
    pub workspace: ReadSignal<Option<ServerMessage>>,
    /// The latest `notification` frames (up to 5) with the time each
    /// arrived (ms since the epoch), kept here so that a burst, or a page
    /// re-rendering as it arrives, loses none of them.
    pub notifications: ReadSignal<Vec<(f64, ServerMessage)>>,
}

/// Identifies one [`LiveConnection::watch_execution`] registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WatchId(pub u64);

impl LiveConnection {
    /// Follows one execution: `on_event` gets every event after `since`,
    /// once each and in `seq` order, replayed from the store first and then
    /// live, across reconnects (each resubscribes from the last `seq` seen).
    /// On the server this does nothing.
    pub fn watch_execution(
        &self,
        id: ExecutionId,
        since: u64,
        on_event: impl Fn(ServerMessage) + 'static,
    ) -> Option<WatchId> {
        #[cfg(feature = "hydrate")]
        {
            client::watch(id, since, std::rc::Rc::new(on_event))
        }
        #[cfg(not(feature = "hydrate"))]
        {
            let _ = (id, since, on_event);
            None
        }
    }

    pub fn unwatch(&self, id: ExecutionId, watch: WatchId) {
        #[cfg(feature = "hydrate")]
        client::unwatch(id, watch);
        #[cfg(not(feature = "hydrate"))]
        let _ = (id, watch);
    }
}

/// Opens the tab's connection (in the browser) and provides it as context.
pub fn provide_live_connection() -> LiveConnection {
    let (status, set_status) = signal(LinkStatus::Connecting);
    let (connection_id, set_connection_id) = signal(None::<String>);
    let (lifecycle, set_lifecycle) = signal(None::<ServerMessage>);
    let (workspace, set_workspace) = signal(None::<ServerMessage>);
    let (notifications, set_notifications) = signal(Vec::<(f64, ServerMessage)>::new());
    let live = LiveConnection {
        status,
        connection_id,
        lifecycle,
        workspace,
        notifications,
    };
    provide_context(live);

    #[cfg(feature = "hydrate")]
    {
        // Ready at once, so that pages can register what they watch; the
        // socket opens after hydration (no signal is read inside the
        // effect, so it runs once).
        client::init(
            set_status,
            set_connection_id,
            set_lifecycle,
            set_workspace,
            set_notifications,
        );
        Effect::new(move |_| client::connect_now());
        on_cleanup(client::stop);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (
        set_status,
        set_connection_id,
        set_lifecycle,
        set_workspace,
        set_notifications,
    );

    live
}

pub fn use_live_connection() -> LiveConnection {
    expect_context::<LiveConnection>()
}

/// Delay before reconnect attempt `attempt` (1-based), before jitter:
/// 0.5 s, 1 s, 2 s, 4 s, 8 s, then 15 s.
pub fn backoff_ms(attempt: u32) -> u32 {
    let exp = attempt.saturating_sub(1).min(10);
    (500u32 << exp).min(15_000)
}

#[cfg(feature = "hydrate")]
mod client {
    use std::cell::{Cell, RefCell};
    use std::collections::HashMap;
    use std::rc::{Rc, Weak};

    use leptos::prelude::*;
    use wasm_bindgen::{closure::Closure, JsCast};
    use web_sys::{CloseEvent, Event, MessageEvent, WebSocket};

    use super::{backoff_ms, LinkStatus, WatchId};
    use crate::model::ExecutionId;
    use crate::protocol::{
        close,
        native::{Channel, ClientMessage, ServerMessage},
    };

    type Callback = Rc<dyn Fn(ServerMessage)>;

    /// One followed execution: who to tell, and how far they got.
    struct Watch {
        id: WatchId,
        last: u64,
        on_event: Callback,
    }

    const HEARTBEAT_MS: i32 = 30_000;

    type Handlers = (
        Closure<dyn FnMut(MessageEvent)>,
        Closure<dyn FnMut(CloseEvent)>,
        Closure<dyn FnMut(Event)>,
    );

    /// A running `setInterval` and the callback it calls.
    type Interval = (i32, Closure<dyn FnMut()>);

    struct Link {
        socket: RefCell<Option<WebSocket>>,
        /// Kept alive as long as the socket they are attached to.
        handlers: RefCell<Option<Handlers>>,
        heartbeat: RefCell<Option<Interval>>,
        attempt: Cell<u32>,
        stopped: Cell<bool>,
        set_status: WriteSignal<LinkStatus>,
        set_connection_id: WriteSignal<Option<String>>,
        set_lifecycle: WriteSignal<Option<ServerMessage>>,
        set_workspace: WriteSignal<Option<ServerMessage>>,
        set_notifications: WriteSignal<Vec<(f64, ServerMessage)>>,
        watches: RefCell<HashMap<ExecutionId, Watch>>,
        next_watch: Cell<u64>,
        /// True between `connected` and the close.
        ready: Cell<bool>,
    }

    thread_local! {
        static LINK: RefCell<Option<Rc<Link>>> = const { RefCell::new(None) };
    }

    pub fn init(
        set_status: WriteSignal<LinkStatus>,
        set_connection_id: WriteSignal<Option<String>>,
        set_lifecycle: WriteSignal<Option<ServerMessage>>,
        set_workspace: WriteSignal<Option<ServerMessage>>,
        set_notifications: WriteSignal<Vec<(f64, ServerMessage)>>,
    ) {
        stop();
        let link = Rc::new(Link {
            socket: RefCell::new(None),
            handlers: RefCell::new(None),
            heartbeat: RefCell::new(None),
            attempt: Cell::new(0),
            stopped: Cell::new(false),
            set_status,
            set_connection_id,
            set_lifecycle,
            set_workspace,
            set_notifications,
            watches: RefCell::new(HashMap::new()),
            next_watch: Cell::new(1),
            ready: Cell::new(false),
        });
        LINK.with(|l| *l.borrow_mut() = Some(link));
    }

    pub fn connect_now() {
        if let Some(link) = LINK.with(|l| l.borrow().clone()) {
            if link.socket.borrow().is_none() && !link.stopped.get() {
                start_heartbeat(&link);
                connect(&link);
            }
        }
    }

    pub fn stop() {
        if let Some(link) = LINK.with(|l| l.borrow_mut().take()) {
            link.stopped.set(true);
            if let Some((id, _closure)) = link.heartbeat.borrow_mut().take() {
                if let Some(w) = web_sys::window() {
                    w.clear_interval_with_handle(id);
                }
            }
            detach(&link);
        }
    }

    fn url() -> Option<String> {
        let location = web_sys::window()?.location();
        let scheme = if location.protocol().ok()? == "https:" {
            "wss"
        } else {
            "ws"
        };
        // `batch=1`: Yagura's extensions (batches, resync, cancelled runs).
        Some(format!("{scheme}://{}/ws?batch=1", location.host().ok()?))
    }

    /// Closes the current socket (if any) without triggering a reconnect.
    fn detach(link: &Link) {
        if let Some(ws) = link.socket.borrow_mut().take() {
            ws.set_onmessage(None);
            ws.set_onclose(None);
            ws.set_onerror(None);
            let _ = ws.close();
        }
        link.handlers.borrow_mut().take();
    }

    fn connect(link: &Rc<Link>) {
        if link.stopped.get() {
            return;
        }
        detach(link);
        let Some(ws) = url().and_then(|u| WebSocket::new(&u).ok()) else {
            schedule_reconnect(link);
            return;
        };
        let weak = Rc::downgrade(link);

        let on_message = {
            let weak = weak.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
                let Some(link) = weak.upgrade() else { return };
                let Some(text) = ev.data().as_string() else {
                    return;
                };
                let Ok(msg) = serde_json::from_str::<ServerMessage>(&text) else {
                    return;
                };
                on_message(&link, msg);
            })
        };
        let on_close = {
            let weak = weak.clone();
            Closure::<dyn FnMut(CloseEvent)>::new(move |ev: CloseEvent| {
                let Some(link) = weak.upgrade() else { return };
                link.ready.set(false);
                link.set_connection_id.set(None);
                if link.stopped.get() {
                    return;
                }
                if ev.code() == close::UNAUTHORIZED {
                    link.stopped.set(true);
                    link.set_status.set(LinkStatus::SignedOut);
                    return;
                }
                schedule_reconnect(&link);
            })
        };
        // An error is always followed by a close event, which reconnects.
        let on_error = Closure::<dyn FnMut(Event)>::new(|_ev: Event| {});

        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        ws.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        *link.socket.borrow_mut() = Some(ws);
        *link.handlers.borrow_mut() = Some((on_message, on_close, on_error));
    }

    fn send(link: &Link, msg: &ClientMessage) {
        if !link.ready.get() {
            return;
        }
        if let (Some(ws), Ok(text)) = (link.socket.borrow().as_ref(), serde_json::to_string(msg)) {
            let _ = ws.send_with_str(&text);
        }
    }

    fn subscribe_msg(id: ExecutionId, since: u64) -> ClientMessage {
        ClientMessage::Subscribe {
            channel: Channel::AgentExecution,
            execution_id: Some(id),
            since: Some(since),
        }
    }

    fn on_message(link: &Rc<Link>, msg: ServerMessage) {
        match msg {
            ServerMessage::Connected { connection_id, .. } => {
                link.attempt.set(0);
                link.ready.set(true);
                link.set_connection_id.set(Some(connection_id));
                link.set_status.set(LinkStatus::Connected);
                // (Re)subscribe: the lifecycle of all, and each watched
                // execution from the last seq it saw.
                send(
                    link,
                    &ClientMessage::Subscribe {
                        channel: Channel::Executions,
                        execution_id: None,
                        since: None,
                    },
                );
                let resume: Vec<(ExecutionId, u64)> = link
                    .watches
                    .borrow()
                    .iter()
                    .map(|(id, w)| (*id, w.last))
                    .collect();
                for (id, last) in resume {
                    send(link, &subscribe_msg(id, last));
                }
                // Lists may have missed events while the link was down.
                link.set_lifecycle.set(Some(ServerMessage::Resync {
                    channel: Channel::Executions,
                }));
                link.set_workspace.set(Some(ServerMessage::Resync {
                    channel: Channel::Workspace,
                }));
            }
            ServerMessage::Batch { events } => {
                for event in events {
                    on_message(link, event);
                }
            }
            ServerMessage::Resync {
                channel: Channel::Workspace,
            } => link.set_workspace.set(Some(msg)),
            ServerMessage::Resync { .. } => link.set_lifecycle.set(Some(msg)),
            ServerMessage::IssueCreated { .. }
            | ServerMessage::IssueUpdated { .. }
            | ServerMessage::RunnerUpdated { .. } => link.set_workspace.set(Some(msg)),
            ServerMessage::Notification { .. } => {
                link.set_notifications.update(|list| {
                    list.push((js_sys::Date::now(), msg.clone()));
                    if list.len() > 5 {
                        list.remove(0);
                    }
                });
                link.set_workspace.set(Some(msg));
            }
            msg if msg.workflow_seq().is_some() => link.set_workspace.set(Some(msg)),
            msg => {
                let Some((id, seq)) = msg.seq() else { return };
                let is_log = matches!(msg, ServerMessage::AgentLog { .. });
                let callback = {
                    let mut watches = link.watches.borrow_mut();
                    match watches.get_mut(&id) {
                        // Only the next seq: the execution stream delivers in
                        // order, while the lifecycle channel may run ahead of
                        // it (a finished event before the last log lines);
                        // such an early copy comes again in order.
                        Some(w) if seq == w.last + 1 => {
                            w.last = seq;
                            Some(w.on_event.clone())
                        }
                        _ => None,
                    }
                };
                if !is_log {
                    link.set_lifecycle.set(Some(msg.clone()));
                }
                // Called with no borrow held: the callback may watch or unwatch.
                if let Some(callback) = callback {
                    callback(msg);
                }
            }
        }
    }

    pub fn watch(id: ExecutionId, since: u64, on_event: Callback) -> Option<WatchId> {
        let link = LINK.with(|l| l.borrow().clone())?;
        let watch = WatchId(link.next_watch.get());
        link.next_watch.set(watch.0 + 1);
        link.watches.borrow_mut().insert(
            id,
            Watch {
                id: watch,
                last: since,
                on_event,
            },
        );
        send(&link, &subscribe_msg(id, since));
        Some(watch)
    }

    pub fn unwatch(id: ExecutionId, watch: WatchId) {
        let Some(link) = LINK.with(|l| l.borrow().clone()) else {
            return;
        };
        let removed = {
            let mut watches = link.watches.borrow_mut();
            if watches.get(&id).is_some_and(|w| w.id == watch) {
                watches.remove(&id);
                true
            } else {
                false
            }
        };
        if removed {
            send(
                &link,
                &ClientMessage::Unsubscribe {
                    channel: Channel::AgentExecution,
                    execution_id: Some(id),
                },
            );
        }
    }

    fn schedule_reconnect(link: &Rc<Link>) {
        let attempt = link.attempt.get().saturating_add(1);
        link.attempt.set(attempt);
        link.set_status.set(LinkStatus::Reconnecting { attempt });
        // ±25 % jitter so that a restarted server is not hit by every tab at once.
        let jitter = 0.75 + js_sys::Math::random() * 0.5;
        let delay = (f64::from(backoff_ms(attempt)) * jitter) as i32;
        let weak: Weak<Link> = Rc::downgrade(link);
        let callback = Closure::once_into_js(move || {
            if let Some(link) = weak.upgrade() {
                connect(&link);
            }
        });
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(
                callback.unchecked_ref(),
                delay,
            );
        }
    }

    /// Seed 002 asks clients to send `ping` every 30 s; the server also
    /// pings at the WebSocket level, so this only keeps proxies honest.
    fn start_heartbeat(link: &Rc<Link>) {
        let weak = Rc::downgrade(link);
        let tick = Closure::<dyn FnMut()>::new(move || {
            let Some(link) = weak.upgrade() else { return };
            let socket = link.socket.borrow();
            if let Some(ws) = socket
                .as_ref()
                .filter(|ws| ws.ready_state() == WebSocket::OPEN)
            {
                let _ = ws.send_with_str(r#"{"type":"ping"}"#);
            }
        });
        if let Some(w) = web_sys::window() {
            if let Ok(id) = w.set_interval_with_callback_and_timeout_and_arguments_0(
                tick.as_ref().unchecked_ref(),
                HEARTBEAT_MS,
            ) {
                *link.heartbeat.borrow_mut() = Some((id, tick));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::backoff_ms;

    #[test]
    fn backoff_doubles_then_caps() {
        let delays: Vec<u32> = (1..=8).map(backoff_ms).collect();
        assert_eq!(
            delays,
            vec![500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]
        );
        assert_eq!(backoff_ms(u32::MAX), 15000);
    }
}
