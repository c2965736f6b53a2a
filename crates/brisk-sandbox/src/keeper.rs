//! A thread that owns a server process for exactly as long as its sandbox lives.
//!
//! Linux delivers the parent-death signal when the *thread* that forked a child exits, not
//! the process. A sandbox may be created on a short-lived thread (a test's thread), so the
//! server is forked from a dedicated keeper thread that lives until the sandbox stops it.
//! If brisk dies without stopping it (SIGKILL, a crash), the kernel sends the server the
//! parent-death signal and the server shuts down on its own.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::SandboxError;

pub(crate) struct Keeper {
    pid: u32,
    stop: mpsc::Sender<()>,
    thread: Option<JoinHandle<()>>,
}

/// How a server is asked to stop, and how long it gets before SIGKILL.
#[derive(Clone, Copy)]
pub(crate) struct StopSignal {
    pub signal: libc::c_int,
    pub grace: Duration,
}

impl Keeper {
    /// Spawns `command` on a keeper thread. The child gets `death_signal` if the keeper
    /// thread (and so brisk) dies, and runs in its own process group so a Ctrl-C at the
    /// terminal reaches brisk, which then stops the server in order.
    pub fn spawn(
        mut command: Command,
        what: &'static str,
        death_signal: libc::c_int,
        stop: StopSignal,
    ) -> Result<Keeper, SandboxError> {
        command.process_group(0);
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: the closure runs between fork and exec and calls only async-signal-safe
        // functions (prctl, getppid, raise).
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, death_signal as libc::c_ulong) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died between fork and prctl; then nobody would send
                // the signal, so deliver it now. Compare with brisk's pid rather than 1: a
                // subreaper (tini, systemd --user) adopts orphans too.
                if libc::getppid() != parent {
                    libc::raise(death_signal);
                }
                Ok(())
            });
        }
        let (started_tx, started_rx) = mpsc::channel::<std::io::Result<u32>>();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("brisk-sandbox-{what}"))
            .spawn(move || {
                let child = match command.spawn() {
                    Ok(child) => child,
                    Err(e) => {
                        let _ = started_tx.send(Err(e));
                        return;
                    }
                };
                let _ = started_tx.send(Ok(child.id()));
                // Either an explicit stop or the sandbox handle being dropped ends the wait.
                let _ = stop_rx.recv();
                terminate(child, stop);
            })
            .map_err(SandboxError::io(format!("starting a thread for {what}")))?;
        match started_rx.recv() {
            Ok(Ok(pid)) => Ok(Keeper {
                pid,
                stop: stop_tx,
                thread: Some(thread),
            }),
            Ok(Err(e)) => Err(SandboxError::Io {
                context: format!("starting {what}"),
                source: e,
            }),
            Err(_) => Err(SandboxError::Command {
                what: format!("starting {what}"),
                detail: "the keeper thread ended unexpectedly".into(),
            }),
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether the server process has exited (reaped or gone).
    pub fn has_exited(&self) -> bool {
        process_gone(self.pid)
    }

    /// Stops the server and waits for it to exit.
    pub fn stop(mut self) {
        self.stop_in_place();
    }

    fn stop_in_place(&mut self) {
        let _ = self.stop.send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        self.stop_in_place();
    }
}

/// Whether `pid` no longer runs: gone, or a zombie waiting to be reaped.
pub(crate) fn process_gone(pid: u32) -> bool {
    // Signal 0 checks existence. A zombie still exists, so also look at its state.
    let alive = unsafe { libc::kill(pid as libc::pid_t, 0) } == 0;
    if !alive {
        return true;
    }
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit(')')
                .next()
                .map(|rest| rest.trim_start().starts_with('Z'))
                .unwrap_or(false)
        })
        .unwrap_or(true)
}

fn terminate(mut child: Child, stop: StopSignal) {
    unsafe {
        libc::kill(child.id() as libc::pid_t, stop.signal);
    }
    let deadline = Instant::now() + stop.grace;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}
