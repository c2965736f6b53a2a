//! Wake-ups at the intended start, to a fraction of a millisecond (the default; tokio's
//! timer with `--coarse-timer`).
//!
//! tokio's timer wheel has a 1 ms resolution and rounds every sleep up to the next tick,
//! which puts up to 1 ms of the generator's own lag into every latency measured from the
//! intended start. [`Sleepers`] is one Linux `timerfd` (an hrtimer) for all of a run's
//! connections, registered with the runtime's own epoll, and the list of the connections
//! waiting on it.
//!
//! It waits as pgbench's `ppoll` does. A wait may end up to [`SLACK`] after its deadline
//! (the kernel gives `ppoll` the same 50 µs of timer slack), so one expiry serves every
//! wait whose window it falls in, and a connection that is awake anyway (its answer came)
//! starts every wait already due ([`Sleepers::wake_due`]). The timer is set only when a
//! wait's window ends before the expiry already set, and after each expiry. A wait never
//! ends before its deadline.

use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// How late past its deadline a wait may end, so that expiries and wake-ups are shared.
pub const SLACK: Duration = Duration::from_micros(50);

/// The run's waits and the timer that ends them; shared by the connections in an `Arc`.
pub struct Sleepers {
    shared: Arc<Shared>,
    /// The task that ends the waits at each expiry; stopped when this is dropped.
    expiries: tokio::task::JoinHandle<()>,
}

impl Drop for Sleepers {
    fn drop(&mut self) {
        self.expiries.abort();
    }
}

struct Shared {
    fd: AsyncFd<OwnedFd>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Registered waits: their id, deadline and task.
    waiting: Vec<(u64, Instant, Waker)>,
    /// When the timer expires next, if it is set.
    armed: Option<Instant>,
    next_id: u64,
}

impl Sleepers {
    /// Must be called inside a tokio runtime: the timer joins its reactor, and the task
    /// that ends the waits at each expiry is spawned on it.
    pub fn new() -> io::Result<Sleepers> {
        // SAFETY: timerfd_create takes no pointers; a negative result is an error.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: the OwnedFd is moved into the AsyncFd, which owns it until dropped, so
        // the descriptor stays open and the same for the AsyncFd's whole life.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE)? };
        let shared = Arc::new(Shared {
            fd,
            state: Mutex::new(State::default()),
        });
        let expiries = tokio::spawn(expiries(shared.clone()));
        Ok(Sleepers { shared, expiries })
    }

    /// Returns at `deadline` or up to [`SLACK`] after it (at once if it has passed).
    pub fn sleep_until(&self, deadline: Instant) -> Sleep<'_> {
        Sleep {
            sleepers: self,
            deadline,
            id: None,
        }
    }

    /// Ends every wait whose deadline has passed. Called by a connection that is awake
    /// anyway, so those waits need no wake-up of their own.
    pub fn wake_due(&self) {
        let mut state = self.shared.lock();
        if !state.waiting.is_empty() {
            state.wake_due(Instant::now());
        }
    }
}

impl State {
    /// Wakes and forgets the waits due at `now`; returns the earliest deadline left.
    fn wake_due(&mut self, now: Instant) -> Option<Instant> {
        let mut earliest: Option<Instant> = None;
        self.waiting.retain(|(_, deadline, waker)| {
            if *deadline <= now {
                waker.wake_by_ref();
                false
            } else {
                earliest = Some(earliest.map_or(*deadline, |e| e.min(*deadline)));
                true
            }
        });
        earliest
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the list as consistent as before it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the timer to expire once, at `at` (at once if it has passed).
    fn arm(&self, state: &mut State, at: Instant) -> io::Result<()> {
        // A zero it_value would disarm the timer: the soonest is 1 ns from now.
        let wait = at
            .saturating_duration_since(Instant::now())
            .max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: wait.as_secs() as libc::time_t,
                tv_nsec: libc::c_long::from(wait.subsec_nanos() as i32),
            },
        };
        // SAFETY: the descriptor is a timerfd we own; `spec` outlives the call; a null old
        // value is allowed.
        let rc =
            unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if rc < 0 {
            // The timer keeps whatever it was set to before: `armed` still says so.
            return Err(io::Error::last_os_error());
        }
        state.armed = Some(at);
        Ok(())
    }
}

/// At each expiry: ends the waits that are due and sets the timer for the earliest left.
async fn expiries(shared: Arc<Shared>) {
    loop {
        // The expiry is never read: the reactor is edge-triggered, so each expiry wakes it
        // whether or not the count was read, and `timerfd_settime` starts the count again.
        match shared.fd.readable().await {
            Ok(mut guard) => guard.clear_ready(),
            Err(_) => return,
        }
        let mut state = shared.lock();
        state.armed = None;
        if let Some(earliest) = state.wake_due(Instant::now()) {
            if shared.arm(&mut state, earliest + SLACK).is_err() {
                // Without a timer the waits cannot end on it: wake them all, and each wait
                // not yet due tries to set the timer itself (and falls back if it fails).
                for (_, _, waker) in state.waiting.drain(..) {
                    waker.wake();
                }
            }
        }
    }
}

/// A wait of [`Sleepers::sleep_until`]. Dropped early (a wait given up in `select!`), it
/// takes its registration with it.
pub struct Sleep<'a> {
    sleepers: &'a Sleepers,
    deadline: Instant,
    id: Option<u64>,
}

impl Future for Sleep<'_> {
    type Output = io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let deadline = self.deadline;
        let shared = &self.sleepers.shared;
        if Instant::now() >= deadline {
            if let Some(id) = self.id.take() {
                shared.lock().waiting.retain(|(i, _, _)| *i != id);
            }
            return Poll::Ready(Ok(()));
        }
        let mut state = shared.lock();
        let id = match self.id {
            Some(id) => {
                match state.waiting.iter_mut().find(|(i, _, _)| *i == id) {
                    Some(entry) => entry.2.clone_from(cx.waker()),
                    // Woken before its deadline (the timer failed): register again.
                    None => state.waiting.push((id, deadline, cx.waker().clone())),
                }
                id
            }
            None => {
                let id = state.next_id;
                state.next_id += 1;
                state.waiting.push((id, deadline, cx.waker().clone()));
                id
            }
        };
        // The timer must expire within this wait's window: set it when it is not set, or
        // set for later than the window's end. One set earlier serves (its expiry sets the
        // timer again for the earliest wait left).
        let window_end = deadline + SLACK;
        if state.armed.is_none_or(|armed| armed > window_end) {
            if let Err(e) = shared.arm(&mut state, window_end) {
                state.waiting.retain(|(i, _, _)| *i != id);
                drop(state);
                self.id = None;
                return Poll::Ready(Err(e));
            }
        }
        drop(state);
        self.id = Some(id);
        Poll::Pending
    }
}

impl Drop for Sleep<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.sleepers
                .shared
                .lock()
                .waiting
                .retain(|(i, _, _)| *i != id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current_thread() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn wakes_on_time() {
        current_thread().block_on(async {
            let sleepers = Sleepers::new().unwrap();
            let start = Instant::now();
            let mut late = Vec::new();
            for i in 1..=50u32 {
                let deadline = start + Duration::from_micros(700) * i;
                sleepers.sleep_until(deadline).await.unwrap();
                let now = Instant::now();
                assert!(now >= deadline, "woke early");
                late.push(now.duration_since(deadline));
            }
            late.sort();
            // Never early (checked above) and not lost. How late is a matter of the
            // machine's load (tests run beside CPU-bound ones on two cores), so the bound
            // is loose; the precision itself is measured by scripts/bench-bench.
            assert!(late[25] < Duration::from_millis(5), "{:?}", late[25]);
            // A deadline in the past returns at once.
            sleepers.sleep_until(start).await.unwrap();
            // A wait given up before its expiry leaves the timer set; the next wait must
            // neither end early on it nor miss its own.
            for _ in 0..20 {
                let abandoned = Instant::now() + Duration::from_micros(300);
                tokio::select! {
                    biased;
                    _ = sleepers.sleep_until(abandoned) => {}
                    _ = std::future::ready(()) => {}
                }
                std::thread::sleep(Duration::from_micros(600));
                let deadline = Instant::now() + Duration::from_millis(2);
                sleepers.sleep_until(deadline).await.unwrap();
                assert!(Instant::now() >= deadline, "woke early on a stale expiry");
            }
            assert!(sleepers.shared.lock().waiting.is_empty());
        });
    }

    #[test]
    fn many_waits_share_the_timer_and_each_ends_in_its_window() {
        current_thread().block_on(async {
            let sleepers = Arc::new(Sleepers::new().unwrap());
            let start = Instant::now() + Duration::from_millis(2);
            // Eight waiters with deadlines in no order, some 10 µs apart (one expiry ends
            // both), some far apart; each must end at or after its own deadline.
            let offsets_us = [900u64, 10, 400, 20, 2500, 1200, 1210, 30];
            let mut tasks = tokio::task::JoinSet::new();
            for offset in offsets_us {
                let sleepers = sleepers.clone();
                tasks.spawn(async move {
                    let deadline = start + Duration::from_micros(offset);
                    sleepers.sleep_until(deadline).await.unwrap();
                    Instant::now() >= deadline
                });
            }
            while let Some(on_time) = tasks.join_next().await {
                assert!(on_time.unwrap(), "a wait ended before its deadline");
            }
            assert!(sleepers.shared.lock().waiting.is_empty());
        });
    }

    #[test]
    fn a_connection_awake_ends_the_waits_that_are_due() {
        current_thread().block_on(async {
            let sleepers = Arc::new(Sleepers::new().unwrap());
            let deadline = Instant::now() + Duration::from_millis(1);
            let waiter = {
                let sleepers = sleepers.clone();
                tokio::spawn(async move { sleepers.sleep_until(deadline).await })
            };
            tokio::task::yield_now().await;
            assert_eq!(sleepers.shared.lock().waiting.len(), 1);
            // Before the deadline nothing is due.
            sleepers.wake_due();
            assert_eq!(sleepers.shared.lock().waiting.len(), 1);
            std::thread::sleep(Duration::from_millis(1));
            sleepers.wake_due();
            assert!(sleepers.shared.lock().waiting.is_empty());
            waiter.await.unwrap().unwrap();
            assert!(Instant::now() >= deadline);
        });
    }
}
