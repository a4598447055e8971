//! The tab's one WebSocket to `/ws` (native dialect), shared through
//! context. It authenticates with the session cookie, reports its state for
//! the connection indicator, and reconnects with exponential backoff and
//! jitter until the server says the session is gone (close 4001).
//!
//! On the server this is inert: views render the same on both sides and the
//! socket only opens after hydration.

use leptos::prelude::*;

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
}

/// Opens the tab's connection (in the browser) and provides it as context.
pub fn provide_live_connection() -> LiveConnection {
    let (status, set_status) = signal(LinkStatus::Connecting);
    let (connection_id, set_connection_id) = signal(None::<String>);
    let live = LiveConnection {
        status,
        connection_id,
    };
    provide_context(live);

    #[cfg(feature = "hydrate")]
    {
        // No signal is read inside, so this runs once, after hydration.
        Effect::new(move |_| client::start(set_status, set_connection_id));
        on_cleanup(client::stop);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (set_status, set_connection_id);

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
    use std::rc::{Rc, Weak};

    use leptos::prelude::*;
    use wasm_bindgen::{closure::Closure, JsCast};
    use web_sys::{CloseEvent, Event, MessageEvent, WebSocket};

    use super::{backoff_ms, LinkStatus};
    use crate::protocol::{close, native::ServerMessage};

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
    }

    thread_local! {
        static LINK: RefCell<Option<Rc<Link>>> = const { RefCell::new(None) };
    }

    pub fn start(
        set_status: WriteSignal<LinkStatus>,
        set_connection_id: WriteSignal<Option<String>>,
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
        });
        LINK.with(|l| *l.borrow_mut() = Some(link.clone()));
        start_heartbeat(&link);
        connect(&link);
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
        Some(format!("{scheme}://{}/ws", location.host().ok()?))
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
                if let Ok(ServerMessage::Connected { connection_id, .. }) =
                    serde_json::from_str::<ServerMessage>(&text)
                {
                    link.attempt.set(0);
                    link.set_connection_id.set(Some(connection_id));
                    link.set_status.set(LinkStatus::Connected);
                }
            })
        };
        let on_close = {
            let weak = weak.clone();
            Closure::<dyn FnMut(CloseEvent)>::new(move |ev: CloseEvent| {
                let Some(link) = weak.upgrade() else { return };
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
