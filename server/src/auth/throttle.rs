//! Slowing down password guessing.
//!
//! Failed sign-ins are counted per login name and per client address. Once a login has
//! [`ThrottlePolicy::max_login_failures`] failures in a row (or an address
//! [`ThrottlePolicy::max_addr_failures`]), each one less than [`ThrottlePolicy::window`]
//! after the previous, further attempts are refused for a lockout that doubles with every
//! further failure: 1 s, 2 s, 4 s, ... up to [`ThrottlePolicy::max_lockout`]. A successful
//! sign-in clears its login's count; an address's count only ages out, so one address cannot
//! spread its guesses over many logins.
//!
//! Attempts still being checked count against the limit too, so a burst of parallel requests
//! cannot slip past it while the (slow) password hashes are computed.
//!
//! The counts live in this process's memory: with several server nodes each node throttles
//! on its own (an attacker spreading attempts over N nodes gets N times the budget), and a
//! restart forgets them. Behind a reverse proxy every client has the proxy's address, so the
//! per-address limit then throttles everyone together; raise it or rely on the proxy.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures in a row of one login before it is locked out.
    pub max_login_failures: u32,
    /// Failures from one address before it is locked out.
    pub max_addr_failures: u32,
    /// A count is forgotten once this long has passed since its last failure (and its
    /// lockout is over).
    pub window: Duration,
    /// The first lockout; each further failure doubles it.
    pub base_lockout: Duration,
    /// The longest lockout.
    pub max_lockout: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            max_login_failures: 5,
            max_addr_failures: 20,
            window: Duration::from_secs(15 * 60),
            base_lockout: Duration::from_secs(1),
            max_lockout: Duration::from_secs(15 * 60),
        }
    }
}

impl ThrottlePolicy {
    /// The lockout after `failures` failures when `max` are allowed (zero below the limit).
    pub fn lockout(&self, failures: u32, max: u32) -> Duration {
        if failures < max {
            return Duration::ZERO;
        }
        let doublings = (failures - max).min(31);
        self.base_lockout
            .saturating_mul(1 << doublings)
            .min(self.max_lockout)
    }
}

/// Where the time comes from (tests move it by hand).
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now.
    fn now(&self) -> Instant;
}

/// The real monotonic clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// Sign-in attempts refused until `retry_after` has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many failed sign-ins; retry after {retry_after:?}")]
pub struct Throttled {
    /// How long to wait.
    pub retry_after: Duration,
}

impl Throttled {
    /// The wait in whole seconds, rounded up, at least 1 (for `Retry-After`).
    pub fn retry_after_secs(&self) -> u64 {
        let secs = self.retry_after.as_secs();
        let rounded = if self.retry_after.subsec_nanos() > 0 {
            secs + 1
        } else {
            secs
        };
        rounded.max(1)
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    pending: u32,
    last_failure: Instant,
}

impl Entry {
    /// How long this key stays locked out, from `now`.
    fn locked_for(&self, now: Instant, max: u32, policy: &ThrottlePolicy) -> Option<Duration> {
        let until = self.last_failure + policy.lockout(self.failures, max);
        if until > now {
            return Some(until - now);
        }
        // Attempts being checked would, if they all fail, reach the limit (or it is reached
        // already, and one attempt at a time is allowed): wait for them.
        if self.pending > 0 && self.failures + self.pending >= max {
            return Some(policy.base_lockout);
        }
        None
    }

    fn is_stale(&self, now: Instant, max: u32, policy: &ThrottlePolicy) -> bool {
        self.pending == 0
            && now.saturating_duration_since(self.last_failure)
                >= policy.window.max(policy.lockout(self.failures, max))
    }
}

#[derive(Debug)]
struct Counts {
    logins: HashMap<String, Entry>,
    addrs: HashMap<IpAddr, Entry>,
    last_sweep: Instant,
}

/// How often stale entries are dropped, and the map size that triggers an early sweep.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
const SWEEP_ABOVE: usize = 10_000;

/// The failed-sign-in counts of this server process. Shared through `AppState`. Its `Debug`
/// shows the policy and how many entries are held, never login names or addresses.
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    clock: Arc<dyn Clock>,
    counts: Mutex<Counts>,
}

impl std::fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (logins, addrs) = self.held_entries();
        f.debug_struct("LoginThrottle")
            .field("policy", &self.policy)
            .field("logins", &logins)
            .field("addrs", &addrs)
            .finish_non_exhaustive()
    }
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::new(ThrottlePolicy::default())
    }
}

impl LoginThrottle {
    /// A throttle on the system clock.
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self::with_clock(policy, Arc::new(SystemClock))
    }

    /// A throttle on a given clock.
    pub fn with_clock(policy: ThrottlePolicy, clock: Arc<dyn Clock>) -> Self {
        let now = clock.now();
        Self {
            policy,
            clock,
            counts: Mutex::new(Counts {
                logins: HashMap::new(),
                addrs: HashMap::new(),
                last_sweep: now,
            }),
        }
    }

    /// The policy.
    pub fn policy(&self) -> &ThrottlePolicy {
        &self.policy
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        // The counts stay consistent even if a holder panicked: every update is one step.
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a sign-in attempt, or refuses it while the login or the address is locked out.
    /// Report the outcome through the returned [`Attempt`]; dropping it unreported (the
    /// client went away, the database failed) counts neither way.
    pub fn begin(
        self: &Arc<Self>,
        login: &str,
        addr: Option<IpAddr>,
    ) -> Result<Attempt, Throttled> {
        let now = self.clock.now();
        let policy = self.policy;
        let mut counts = self.counts();
        counts.sweep(now, &policy);
        // Forget these two counts if they aged out since the last sweep.
        drop_if_stale(
            &mut counts.logins,
            login,
            now,
            policy.max_login_failures,
            &policy,
        );
        if let Some(a) = addr {
            drop_if_stale(
                &mut counts.addrs,
                &a,
                now,
                policy.max_addr_failures,
                &policy,
            );
        }
        let login_lock = counts
            .logins
            .get(login)
            .and_then(|e| e.locked_for(now, policy.max_login_failures, &policy));
        let addr_lock = addr
            .and_then(|a| counts.addrs.get(&a))
            .and_then(|e| e.locked_for(now, policy.max_addr_failures, &policy));
        if let Some(wait) = login_lock.max(addr_lock) {
            return Err(Throttled { retry_after: wait });
        }
        entry(&mut counts.logins, login.to_owned(), now).pending += 1;
        if let Some(a) = addr {
            entry(&mut counts.addrs, a, now).pending += 1;
        }
        Ok(Attempt {
            throttle: Arc::clone(self),
            login: login.to_owned(),
            addr,
            reported: false,
        })
    }

    fn finish(&self, login: &str, addr: Option<IpAddr>, outcome: Option<bool>) {
        let now = self.clock.now();
        let mut counts = self.counts();
        let update = |e: &mut Entry, reset: bool| {
            e.pending = e.pending.saturating_sub(1);
            match outcome {
                Some(false) => {
                    e.failures = e.failures.saturating_add(1);
                    e.last_failure = now;
                }
                Some(true) if reset => e.failures = 0,
                _ => {}
            }
        };
        if let Some(e) = counts.logins.get_mut(login) {
            update(e, true);
        }
        if let Some(e) = addr.and_then(|a| counts.addrs.get_mut(&a)) {
            update(e, false);
        }
        let policy = self.policy;
        drop_if_stale(
            &mut counts.logins,
            login,
            now,
            policy.max_login_failures,
            &policy,
        );
        if let Some(a) = addr {
            drop_if_stale(
                &mut counts.addrs,
                &a,
                now,
                policy.max_addr_failures,
                &policy,
            );
        }
    }

    /// How many login and address entries are held (for tests and metrics).
    pub fn held_entries(&self) -> (usize, usize) {
        let counts = self.counts();
        (counts.logins.len(), counts.addrs.len())
    }
}

fn entry<K: Hash + Eq>(map: &mut HashMap<K, Entry>, key: K, now: Instant) -> &mut Entry {
    map.entry(key).or_insert(Entry {
        failures: 0,
        pending: 0,
        last_failure: now,
    })
}

fn drop_if_stale<K, Q>(
    map: &mut HashMap<K, Entry>,
    key: &Q,
    now: Instant,
    max: u32,
    policy: &ThrottlePolicy,
) where
    K: Hash + Eq + std::borrow::Borrow<Q>,
    Q: Hash + Eq + ?Sized,
{
    if map
        .get(key)
        .is_some_and(|e| (e.failures == 0 && e.pending == 0) || e.is_stale(now, max, policy))
    {
        map.remove(key);
    }
}

impl Counts {
    fn sweep(&mut self, now: Instant, policy: &ThrottlePolicy) {
        let due = now.saturating_duration_since(self.last_sweep) >= SWEEP_EVERY;
        if !due && self.logins.len() + self.addrs.len() < SWEEP_ABOVE {
            return;
        }
        self.last_sweep = now;
        self.logins
            .retain(|_, e| !e.is_stale(now, policy.max_login_failures, policy));
        self.addrs
            .retain(|_, e| !e.is_stale(now, policy.max_addr_failures, policy));
    }
}

/// A sign-in attempt in progress; report how it ended.
#[derive(Debug)]
pub struct Attempt {
    throttle: Arc<LoginThrottle>,
    login: String,
    addr: Option<IpAddr>,
    reported: bool,
}

impl Attempt {
    /// The password was right: the login's count starts over.
    pub fn succeeded(mut self) {
        self.reported = true;
        self.throttle.finish(&self.login, self.addr, Some(true));
    }

    /// Wrong login, wrong password or disabled user: one more failure.
    pub fn failed(mut self) {
        self.reported = true;
        self.throttle.finish(&self.login, self.addr, Some(false));
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if !self.reported {
            self.throttle.finish(&self.login, self.addr, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock moved by hand.
    #[derive(Debug)]
    struct ManualClock(Mutex<Instant>);

    impl ManualClock {
        fn advance(&self, by: Duration) {
            *self.0.lock().unwrap() += by;
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> Instant {
            *self.0.lock().unwrap()
        }
    }

    fn throttle() -> (Arc<LoginThrottle>, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock(Mutex::new(Instant::now())));
        let throttle = LoginThrottle::with_clock(ThrottlePolicy::default(), clock.clone());
        (Arc::new(throttle), clock)
    }

    const ADDR: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)));

    fn fail(t: &Arc<LoginThrottle>, login: &str, addr: Option<IpAddr>) {
        t.begin(login, addr).expect("not throttled").failed();
    }

    #[test]
    fn lockout_doubles_and_is_capped() {
        let p = ThrottlePolicy::default();
        assert_eq!(p.lockout(4, 5), Duration::ZERO);
        assert_eq!(p.lockout(5, 5), Duration::from_secs(1));
        assert_eq!(p.lockout(6, 5), Duration::from_secs(2));
        assert_eq!(p.lockout(8, 5), Duration::from_secs(8));
        assert_eq!(p.lockout(20, 5), Duration::from_secs(900));
        assert_eq!(p.lockout(u32::MAX, 5), Duration::from_secs(900));
    }

    #[test]
    fn five_failures_lock_a_login_with_a_growing_lockout() {
        let (t, clock) = throttle();
        for _ in 0..5 {
            fail(&t, "wang", ADDR);
        }
        let refused = t.begin("wang", ADDR).unwrap_err();
        assert_eq!(refused.retry_after_secs(), 1);
        // Other logins from elsewhere are not affected.
        t.begin("li", None).unwrap().succeeded();
        clock.advance(Duration::from_secs(1));
        fail(&t, "wang", ADDR);
        assert_eq!(t.begin("wang", None).unwrap_err().retry_after_secs(), 2);
        clock.advance(Duration::from_millis(1500));
        assert_eq!(t.begin("wang", None).unwrap_err().retry_after_secs(), 1);
        clock.advance(Duration::from_millis(500));
        fail(&t, "wang", ADDR);
        assert_eq!(t.begin("wang", None).unwrap_err().retry_after_secs(), 4);
    }

    #[test]
    fn a_success_resets_the_login_but_not_the_address() {
        let (t, clock) = throttle();
        for _ in 0..4 {
            fail(&t, "wang", ADDR);
        }
        t.begin("wang", ADDR).unwrap().succeeded();
        for _ in 0..4 {
            fail(&t, "wang", ADDR);
        }
        assert!(t.begin("wang", ADDR).is_ok());
        // Twenty failures from one address over many logins lock the address.
        for i in 0..12 {
            fail(&t, &format!("user{i}"), ADDR);
        }
        clock.advance(Duration::from_millis(10));
        let refused = t.begin("someone-else", ADDR).unwrap_err();
        assert_eq!(refused.retry_after_secs(), 1);
        assert!(t.begin("someone-else", None).is_ok());
    }

    #[test]
    fn counts_age_out_after_the_window() {
        let (t, clock) = throttle();
        for _ in 0..4 {
            fail(&t, "wang", ADDR);
        }
        clock.advance(Duration::from_secs(15 * 60));
        fail(&t, "wang", ADDR);
        // The old four were forgotten when the window passed: one failure is no lockout.
        for _ in 0..3 {
            fail(&t, "wang", ADDR);
        }
        assert!(t.begin("wang", ADDR).is_ok());
        clock.advance(Duration::from_secs(16 * 60));
        assert!(t.begin("x", None).is_ok()); // triggers a sweep
        assert_eq!(t.held_entries(), (0, 0));
    }

    #[test]
    fn parallel_attempts_cannot_overshoot_the_limit() {
        let (t, _clock) = throttle();
        let in_flight: Vec<Attempt> = (0..5).map(|_| t.begin("wang", None).unwrap()).collect();
        assert!(t.begin("wang", None).is_err());
        drop(in_flight);
        // Unreported attempts count neither way.
        assert!(t.begin("wang", None).is_ok());
    }
}
