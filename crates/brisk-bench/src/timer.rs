//! Wake-ups at the intended start, to a fraction of a millisecond (`--precise-timer`).
//!
//! tokio's timer wheel has a 1 ms resolution and rounds every sleep up to the next tick,
//! which puts about 0.5-1 ms of the generator's own lag into every latency measured from
//! the intended start (pgbench -R has as much). This timer keeps the deadlines in a heap on
//! one thread that parks until the earliest (a futex wait, which Linux ends within its
//! 50 µs timer slack) and wakes the tasks that are due. The price is a cross-thread wake-up
//! per operation, about 15 µs of CPU: hence a choice, not the default.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread::{JoinHandle, Thread};
use std::time::Instant;

struct Entry {
    deadline: Instant,
    seq: u64,
    waker: Waker,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.seq) == (other.deadline, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.deadline, self.seq).cmp(&(other.deadline, other.seq))
    }
}

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
}

struct Shared {
    queue: Mutex<Queue>,
    stop: AtomicBool,
}

/// The timer thread; stopped and joined on drop.
pub struct Timer {
    shared: Arc<Shared>,
    thread: Thread,
    handle: Option<JoinHandle<()>>,
}

impl Timer {
    pub fn start() -> std::io::Result<Timer> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            stop: AtomicBool::new(false),
        });
        let for_thread = shared.clone();
        let handle = std::thread::Builder::new()
            .name("brisk-bench-timer".into())
            .spawn(move || tick(&for_thread))?;
        Ok(Timer {
            shared,
            thread: handle.thread().clone(),
            handle: Some(handle),
        })
    }

    /// A future that is ready at `deadline`.
    pub fn sleep_until(&self, deadline: Instant) -> Sleep<'_> {
        Sleep {
            timer: self,
            deadline,
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.thread.unpark();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

fn tick(shared: &Shared) {
    while !shared.stop.load(Ordering::Acquire) {
        let mut due = Vec::new();
        let next = {
            let mut queue = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            while queue.heap.peek().is_some_and(|e| e.0.deadline <= now) {
                if let Some(Reverse(entry)) = queue.heap.pop() {
                    due.push(entry.waker);
                }
            }
            queue.heap.peek().map(|e| e.0.deadline)
        };
        // Wake outside the lock: a woken task may register its next deadline at once.
        for waker in due {
            waker.wake();
        }
        match next {
            Some(deadline) => {
                std::thread::park_timeout(deadline.saturating_duration_since(Instant::now()))
            }
            None => std::thread::park(),
        }
    }
}

pub struct Sleep<'a> {
    timer: &'a Timer,
    deadline: Instant,
}

impl Future for Sleep<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        let earliest = {
            let mut queue = self
                .timer
                .shared
                .queue
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let earliest = queue
                .heap
                .peek()
                .is_none_or(|e| self.deadline < e.0.deadline);
            queue.seq += 1;
            let seq = queue.seq;
            queue.heap.push(Reverse(Entry {
                deadline: self.deadline,
                seq,
                waker: cx.waker().clone(),
            }));
            earliest
        };
        // The thread sleeps until the earliest deadline it knows; an earlier one wakes it.
        if earliest {
            self.timer.thread.unpark();
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn wakes_on_time_in_order() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let timer = Timer::start().unwrap();
        runtime.block_on(async {
            let start = Instant::now();
            let mut late = Vec::new();
            for i in 1..=50u32 {
                let deadline = start + Duration::from_micros(700) * i;
                timer.sleep_until(deadline).await;
                late.push(Instant::now().duration_since(deadline));
            }
            late.sort();
            // The median wake-up is well within tokio's 1 ms tick; the bound is loose
            // because the test machine is shared.
            assert!(late[25] < Duration::from_micros(500), "{:?}", late[25]);
        });
    }
}
