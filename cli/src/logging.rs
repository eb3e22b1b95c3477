//! Logs to stderr through tracing; `REEL_LOG` (or `RUST_LOG`) takes filter
//! directives.
//!
//! pingora logs an ERROR line for every client that hangs up in the middle
//! of a request, which under a load test or an attack is thousands a
//! minute: the proxy library's warnings and errors are rate-limited to a few
//! per window, and `reel record` logs how many were held back
//! ([`take_held_back`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::{Event, Level, Metadata};
use tracing_log::NormalizeEvent as _;
use tracing_subscriber::layer::{Context, Filter, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::Layer as _;

/// The proxy library's warnings and errors shown per window.
pub const SHOWN_PER_WINDOW: u32 = 10;
pub const WINDOW: Duration = Duration::from_secs(10);

static HELD_BACK: AtomicU64 = AtomicU64::new(0);

pub fn init() {
    let filter = std::env::var("REEL_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "warn,reel=info,reel_fixtures=warn".into());
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_filter(ProxyBudget::default());
    tracing_subscriber::registry().with(layer).init();
}

/// Messages of the proxy library held back since the last call.
pub fn take_held_back() -> u64 {
    HELD_BACK.swap(0, Ordering::Relaxed)
}

/// Lets through at most [`SHOWN_PER_WINDOW`] of pingora's warnings and
/// errors per [`WINDOW`], and counts the rest.
#[derive(Default)]
struct ProxyBudget {
    /// `(start of the window, shown in it)`.
    window: Mutex<Option<(Instant, u32)>>,
}

impl ProxyBudget {
    fn admit(&self, now: Instant) -> bool {
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let (start, shown) = window.get_or_insert((now, 0));
        if now.duration_since(*start) >= WINDOW {
            (*start, *shown) = (now, 0);
        }
        if *shown < SHOWN_PER_WINDOW {
            *shown += 1;
            true
        } else {
            HELD_BACK.fetch_add(1, Ordering::Relaxed);
            false
        }
    }
}

impl<S> Filter<S> for ProxyBudget {
    fn enabled(&self, _: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        true
    }

    fn event_enabled(&self, event: &Event<'_>, _: &Context<'_, S>) -> bool {
        // Messages from the `log` crate (pingora's) carry their real target
        // in the event's fields.
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        if !meta.target().starts_with("pingora") || *meta.level() > Level::WARN {
            return true;
        }
        self.admit(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_shows_its_budget_then_counts_until_the_next_window() {
        let budget = ProxyBudget::default();
        let t0 = Instant::now();
        take_held_back();
        let shown = (0..25).filter(|_| budget.admit(t0)).count();
        assert_eq!(shown, SHOWN_PER_WINDOW as usize);
        assert_eq!(take_held_back(), 25 - u64::from(SHOWN_PER_WINDOW));
        assert!(budget.admit(t0 + WINDOW), "a new window shows again");
    }
}
