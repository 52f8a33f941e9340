//! Which timer serves this thread: the one of the executor running here (a Pool worker,
//! a Scheduler inside `run` or `block_on`), or else a process-wide timer that a lazily
//! started thread drives (under any other executor: a tokio runtime, a hand-written
//! `block_on`, a plain thread). So a sleep works everywhere and never asks for a
//! "current runtime".

use std::cell::Cell;
use std::time::Instant;

use super::timer::Timer;
use crate::sync::{thread_local, Arc};

/// An executor that drives a timer for the code it runs.
pub(crate) trait Host {
    /// The timer that sleeps on this thread register with.
    fn timer(&self) -> &Arc<Timer>;
    /// A registration found nobody driving the timer: make sure some thread will.
    fn summon_driver(&self);
}

thread_local! {
    /// This thread's host, while one is registered (`host_here`).
    static HOST: Cell<Option<*const dyn Host>> = const { Cell::new(None) };
}

/// Registers `host` as this thread's timer host until the guard drops (restoring the
/// one before: a Scheduler run on a Pool worker serves its own tasks, then hands back).
///
/// # Safety
/// `host` outlives the guard (the guard is dropped before it).
pub(crate) unsafe fn host_here<H: Host + 'static>(host: &H) -> impl Drop {
    struct Reset(Option<*const dyn Host>);
    impl Drop for Reset {
        fn drop(&mut self) {
            let _ = HOST.try_with(|slot| slot.set(self.0));
        }
    }
    let erased: *const dyn Host = host as *const H;
    Reset(HOST.with(|slot| slot.replace(Some(erased))))
}

/// Runs `f` with this thread's timer and the way to summon its driver: the host's, or
/// the process-wide one's. `None` only under loom outside braid's executors, where there
/// is no timer thread to model: a sleep there is over at once (virtual time).
pub(crate) fn with_timer<R>(f: impl FnOnce(Option<(&Arc<Timer>, &dyn Fn())>) -> R) -> R {
    let host = HOST.try_with(|slot| slot.get()).ok().flatten();
    // SAFETY: a registered host is alive until its guard unregisters it (`host_here`).
    if let Some(host) = host.map(|host| unsafe { &*host }) {
        return f(Some((host.timer(), &|| host.summon_driver())));
    }
    global::with(f)
}

/// Runs `f` with the process-wide timer (see `with_timer`), whatever this thread's host.
pub(crate) fn with_process_timer<R>(f: impl FnOnce(Option<(&Arc<Timer>, &dyn Fn())>) -> R) -> R {
    global::with(f)
}

/// The time as this thread's timer sees it (later than the clock only under loom, inside
/// an executor). Outside one, the clock: the process-wide timer keeps real time, and
/// asking it would start its thread for nothing.
pub(crate) fn now() -> Instant {
    let host = HOST.try_with(|slot| slot.get()).ok().flatten();
    // SAFETY: as in `with_timer`.
    host.map_or_else(Instant::now, |host| unsafe { &*host }.timer().now())
}

#[cfg(not(loom))]
mod global {
    use std::sync::OnceLock;

    use super::Timer;
    use crate::sync::park::Parker;
    use crate::sync::{thread, Arc};

    /// The process-wide timer and the parker of the thread that drives it.
    struct Global {
        timer: Arc<Timer>,
        parker: Arc<Parker>,
    }

    fn global() -> &'static Global {
        static GLOBAL: OnceLock<Global> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            let global = Global {
                timer: Arc::new(Timer::new()),
                parker: Arc::new(Parker::new()),
            };
            let (timer, parker) = (global.timer.clone(), global.parker.clone());
            // It never exits: like std's own runtime threads, it lives as long as the
            // process, and sleeps while no timer is pending.
            thread::Builder::new()
                .name("braid-timer".into())
                .spawn(move || loop {
                    timer.fire_due();
                    timer.park_driving(&parker);
                })
                .unwrap_or_else(|error| {
                    panic!("braid::time: cannot start the timer thread: {error}")
                });
            global
        })
    }

    pub(super) fn with<R>(f: impl FnOnce(Option<(&Arc<Timer>, &dyn Fn())>) -> R) -> R {
        let global = global();
        // Its thread drives it except while firing; a registration in that moment wakes
        // it to look again.
        f(Some((&global.timer, &|| global.parker.unpark())))
    }
}

#[cfg(loom)]
mod global {
    use super::Timer;
    use crate::sync::Arc;

    pub(super) fn with<R>(f: impl FnOnce(Option<(&Arc<Timer>, &dyn Fn())>) -> R) -> R {
        f(None)
    }
}
