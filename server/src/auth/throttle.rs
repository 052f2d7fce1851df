//! Slowing down password guessing without letting strangers lock owners out (OWASP's
//! "Blocking Brute Force Attacks": throttle per login and per address with an exponential
//! delay, and let devices that signed in before through).
//!
//! Failed sign-ins are counted under several keys at once:
//!
//! * the **login** (case-insensitive),
//! * the exact client **address**,
//! * the client's **address range** (/24 for IPv4, /64 for IPv6), so one attacker spreading a
//!   spray over the addresses of one network is still counted as one,
//! * and, when the request names a device this user signed in on before (a device id the
//!   server registered for them, not revoked), the **login on that device**.
//!
//! Once a key has its maximum of failures in a row (each less than [`ThrottlePolicy::window`]
//! after the previous), further attempts under it are refused (429 with `Retry-After`) for a
//! lockout that doubles with every further failure: 1 s, 2 s, 4 s, ... up to
//! [`ThrottlePolicy::max_lockout`]. A successful sign-in clears the counts of its login and
//! device; address and range counts only age out, so one address cannot spread its guesses
//! over many logins.
//!
//! Which keys may refuse an attempt depends on where it comes from. An attempt from an unknown
//! device is refused while its login, address or range is locked. An attempt from a device
//! that signed in as this user before is refused only while that device's own count or its
//! exact address is locked: strangers guessing the owner's password from elsewhere lock the
//! login for new devices, but the owner's phone still signs in with the right password. (A
//! device id is no secret, so the device count has its own limit: someone who knows it and
//! guesses under it locks only that path, and their own address.)
//!
//! Attempts still being checked count against the limit too, so a burst of parallel requests
//! cannot slip past it while the (slow) password hashes are computed.
//!
//! Memory is bounded: at most [`ThrottlePolicy::max_entries`] keys are held. When a spray of
//! random logins fills the table, the entries with the fewest failures (then the oldest) are
//! dropped first, so the counts that matter (a login under attack, a busy address) stay.
//!
//! The counts live in this process's memory: with several server nodes each node throttles
//! on its own (an attacker spreading attempts over N nodes gets N times the budget), and a
//! restart forgets them. Behind a reverse proxy every client has the proxy's address, so the
//! per-address and per-range limits then throttle everyone together; raise them or rely on
//! the proxy.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sync_core::ids::DeviceId;

/// The thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures in a row of one login before it is locked for unknown devices.
    pub max_login_failures: u32,
    /// Failures from one address before it is locked out.
    pub max_addr_failures: u32,
    /// Failures from one address range (/24, /64) before it is locked for unknown devices.
    pub max_range_failures: u32,
    /// Failures of one login on one of its known devices before that path is locked.
    pub max_device_failures: u32,
    /// A count is forgotten once this long has passed since its last failure (and its
    /// lockout is over).
    pub window: Duration,
    /// The first lockout; each further failure doubles it.
    pub base_lockout: Duration,
    /// The longest lockout.
    pub max_lockout: Duration,
    /// The most keys held at once.
    pub max_entries: usize,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            max_login_failures: 5,
            max_addr_failures: 20,
            max_range_failures: 100,
            max_device_failures: 5,
            window: Duration::from_secs(15 * 60),
            base_lockout: Duration::from_secs(1),
            max_lockout: Duration::from_secs(15 * 60),
            max_entries: 100_000,
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

    fn max_for(&self, key: &Key) -> u32 {
        match key {
            Key::Login(_) => self.max_login_failures,
            Key::Addr(_) => self.max_addr_failures,
            Key::Range(_) => self.max_range_failures,
            Key::Device(..) => self.max_device_failures,
        }
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

    /// The answer to a throttled attempt from `addr`: 429 `rate_limited` with `Retry-After`
    /// (and a log line).
    pub fn answer(&self, addr: Option<IpAddr>) -> crate::error::ApiError {
        tracing::info!(ip = ?addr, "sign-in throttled");
        crate::error::ApiError::too_many_requests(
            "too many failed sign-ins; retry later",
            self.retry_after_secs(),
        )
    }
}

/// What a count is kept under.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// A login, lowercased.
    Login(String),
    /// An exact address.
    Addr(IpAddr),
    /// An address range: the address with its host bits cleared (/24, /64).
    Range(IpAddr),
    /// A login (lowercased) on one of its known devices.
    Device(String, DeviceId),
}

/// The range an address belongs to: /24 for IPv4, /64 for IPv6 (IPv4-mapped IPv6 addresses
/// count as IPv4).
pub fn address_range(addr: IpAddr) -> IpAddr {
    match addr.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::from([a, b, c, 0])
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
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

    fn is_idle(&self) -> bool {
        self.failures == 0 && self.pending == 0
    }
}

#[derive(Debug)]
struct Counts {
    entries: HashMap<Key, Entry>,
    last_sweep: Instant,
}

/// How often stale entries are dropped.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// The failed-sign-in counts of this server process. Shared through `AppState`. Its `Debug`
/// shows the policy and how many entries are held, never login names or addresses.
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    clock: Arc<dyn Clock>,
    counts: Mutex<Counts>,
}

impl std::fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginThrottle")
            .field("policy", &self.policy)
            .field("entries", &self.held_entries())
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
                entries: HashMap::new(),
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

    /// Starts a sign-in attempt, or refuses it while a key that applies to it is locked out.
    /// `known_device` is the device the request names if this login signed in on it before
    /// (and it is not revoked); the caller looks that up. Report the outcome through the
    /// returned [`Attempt`]; dropping it unreported (the client went away, the database
    /// failed) counts neither way.
    pub fn begin(
        self: &Arc<Self>,
        login: &str,
        addr: Option<IpAddr>,
        known_device: Option<&DeviceId>,
    ) -> Result<Attempt, Throttled> {
        let now = self.clock.now();
        let policy = self.policy;
        let login = login.to_lowercase();
        let mut keys = vec![Key::Login(login.clone())];
        if let Some(a) = addr {
            keys.push(Key::Addr(a.to_canonical()));
            keys.push(Key::Range(address_range(a)));
        }
        if let Some(d) = known_device {
            keys.push(Key::Device(login, d.clone()));
        }
        // The keys whose lockout refuses this attempt.
        let guarding = |key: &Key| match key {
            Key::Addr(_) => true,
            Key::Login(_) | Key::Range(_) => known_device.is_none(),
            Key::Device(..) => true,
        };
        let mut counts = self.counts();
        counts.sweep(now, &policy);
        for key in &keys {
            counts.drop_if_stale(key, now, &policy);
        }
        let wait = keys
            .iter()
            .filter(|k| guarding(k))
            .filter_map(|k| {
                counts
                    .entries
                    .get(k)
                    .and_then(|e| e.locked_for(now, policy.max_for(k), &policy))
            })
            .max();
        if let Some(wait) = wait {
            return Err(Throttled { retry_after: wait });
        }
        for key in &keys {
            counts.make_room(now, &policy);
            counts
                .entries
                .entry(key.clone())
                .or_insert(Entry {
                    failures: 0,
                    pending: 0,
                    last_failure: now,
                })
                .pending += 1;
        }
        Ok(Attempt {
            throttle: Arc::clone(self),
            keys,
            reported: false,
        })
    }

    fn finish(&self, keys: &[Key], outcome: Option<bool>) {
        let now = self.clock.now();
        let policy = self.policy;
        let mut counts = self.counts();
        for key in keys {
            let Some(e) = counts.entries.get_mut(key) else {
                continue;
            };
            e.pending = e.pending.saturating_sub(1);
            match outcome {
                Some(false) => {
                    e.failures = e.failures.saturating_add(1);
                    e.last_failure = now;
                }
                // A success clears its login and device; addresses only age out. A success
                // on a known device leaves the login's count (what strangers face) alone.
                Some(true) if matches!(key, Key::Device(..)) => e.failures = 0,
                Some(true)
                    if matches!(key, Key::Login(_))
                        && !keys.iter().any(|k| matches!(k, Key::Device(..))) =>
                {
                    e.failures = 0;
                }
                _ => {}
            }
            counts.drop_if_stale(key, now, &policy);
        }
    }

    /// How many keys are held (for tests and metrics).
    pub fn held_entries(&self) -> usize {
        self.counts().entries.len()
    }
}

impl Counts {
    fn drop_if_stale(&mut self, key: &Key, now: Instant, policy: &ThrottlePolicy) {
        if self
            .entries
            .get(key)
            .is_some_and(|e| e.is_idle() || e.is_stale(now, policy.max_for(key), policy))
        {
            self.entries.remove(key);
        }
    }

    fn sweep(&mut self, now: Instant, policy: &ThrottlePolicy) {
        if now.saturating_duration_since(self.last_sweep) < SWEEP_EVERY {
            return;
        }
        self.last_sweep = now;
        self.entries
            .retain(|k, e| !e.is_stale(now, policy.max_for(k), policy));
    }

    /// Before inserting: if the table is full, drop stale entries, then the tenth with the
    /// fewest failures (oldest first) among those not being checked.
    fn make_room(&mut self, now: Instant, policy: &ThrottlePolicy) {
        if self.entries.len() < policy.max_entries {
            return;
        }
        self.last_sweep = now;
        self.entries
            .retain(|k, e| !e.is_stale(now, policy.max_for(k), policy));
        if self.entries.len() < policy.max_entries {
            return;
        }
        let mut evictable: Vec<(u32, Instant, Key)> = self
            .entries
            .iter()
            .filter(|(_, e)| e.pending == 0)
            .map(|(k, e)| (e.failures, e.last_failure, k.clone()))
            .collect();
        let n = (policy.max_entries / 10).max(1).min(evictable.len());
        if n == 0 {
            return;
        }
        evictable.select_nth_unstable_by(n - 1, |a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        for (_, _, key) in evictable.into_iter().take(n) {
            self.entries.remove(&key);
        }
    }
}

/// A sign-in attempt in progress; report how it ended.
#[derive(Debug)]
pub struct Attempt {
    throttle: Arc<LoginThrottle>,
    keys: Vec<Key>,
    reported: bool,
}

impl Attempt {
    /// The password was right: the login's (or the device's) count starts over.
    pub fn succeeded(mut self) {
        self.reported = true;
        self.throttle.finish(&self.keys, Some(true));
    }

    /// Wrong login, wrong password or disabled user: one more failure under every key.
    pub fn failed(mut self) {
        self.reported = true;
        self.throttle.finish(&self.keys, Some(false));
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if !self.reported {
            self.throttle.finish(&self.keys, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

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

    fn throttle_with(policy: ThrottlePolicy) -> (Arc<LoginThrottle>, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock(Mutex::new(Instant::now())));
        let throttle = LoginThrottle::with_clock(policy, clock.clone());
        (Arc::new(throttle), clock)
    }

    fn throttle() -> (Arc<LoginThrottle>, Arc<ManualClock>) {
        throttle_with(ThrottlePolicy::default())
    }

    fn ip(a: u8, b: u8, c: u8, d: u8) -> Option<IpAddr> {
        Some(IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
    }

    const ADDR: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));

    fn fail(t: &Arc<LoginThrottle>, login: &str, addr: Option<IpAddr>) {
        t.begin(login, addr, None).expect("not throttled").failed();
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
        let refused = t.begin("wang", ADDR, None).unwrap_err();
        assert_eq!(refused.retry_after_secs(), 1);
        // Other logins from elsewhere are not affected; the login is case-insensitive.
        t.begin("li", None, None).unwrap().succeeded();
        assert!(t.begin("WANG", None, None).is_err());
        clock.advance(Duration::from_secs(1));
        fail(&t, "wang", ADDR);
        assert_eq!(
            t.begin("wang", None, None).unwrap_err().retry_after_secs(),
            2
        );
        clock.advance(Duration::from_millis(1500));
        assert_eq!(
            t.begin("wang", None, None).unwrap_err().retry_after_secs(),
            1
        );
        clock.advance(Duration::from_millis(500));
        fail(&t, "wang", ADDR);
        assert_eq!(
            t.begin("wang", None, None).unwrap_err().retry_after_secs(),
            4
        );
    }

    #[test]
    fn a_success_resets_the_login_but_not_the_address() {
        let (t, clock) = throttle();
        for _ in 0..4 {
            fail(&t, "wang", ADDR);
        }
        t.begin("wang", ADDR, None).unwrap().succeeded();
        for _ in 0..4 {
            fail(&t, "wang", ADDR);
        }
        assert!(t.begin("wang", ADDR, None).is_ok());
        // Twenty failures from one address over many logins lock the address.
        for i in 0..12 {
            fail(&t, &format!("user{i}"), ADDR);
        }
        clock.advance(Duration::from_millis(10));
        let refused = t.begin("someone-else", ADDR, None).unwrap_err();
        assert_eq!(refused.retry_after_secs(), 1);
        assert!(t.begin("someone-else", None, None).is_ok());
    }

    #[test]
    fn strangers_lock_the_login_for_new_devices_but_not_for_the_owners_known_device() {
        let (t, clock) = throttle();
        let phone = DeviceId::new();
        // Five wrong guesses from five networks.
        for n in 1..=5 {
            fail(&t, "wang", ip(n, 1, 1, 1));
        }
        // A new device is refused, even with the right password...
        assert!(t.begin("wang", ip(9, 9, 9, 9), None).is_err());
        // ...the owner's phone is let through and signs in.
        t.begin("wang", ip(9, 9, 9, 9), Some(&phone))
            .expect("the known device passes")
            .succeeded();
        // One guess every 14 minutes keeps the login locked for new devices, yet the owner's
        // phone is never refused.
        for n in 0..6 {
            clock.advance(Duration::from_secs(14 * 60));
            if let Ok(a) = t.begin("wang", ip(20 + n, 1, 1, 1), None) {
                a.failed();
            }
            assert!(t.begin("wang", ip(8, 8, 8, 8), None).is_err(), "round {n}");
            t.begin("wang", ip(8, 8, 8, 8), Some(&phone))
                .expect("the owner's phone")
                .succeeded();
        }
        // Someone who knows the device id and guesses under it locks only that path.
        let known = DeviceId::new();
        for n in 1..=5 {
            t.begin("li", ip(30 + n, 1, 1, 1), Some(&known))
                .unwrap()
                .failed();
        }
        assert!(t.begin("li", ip(40, 1, 1, 1), Some(&known)).is_err());
        let other = DeviceId::new();
        assert!(t.begin("li", ip(40, 1, 1, 1), Some(&other)).is_ok());
    }

    #[test]
    fn a_spray_over_one_network_is_limited_per_range() {
        let policy = ThrottlePolicy {
            max_addr_failures: 3,
            max_range_failures: 10,
            ..ThrottlePolicy::default()
        };
        let (t, _clock) = throttle_with(policy);
        // Five addresses of one /24, two guesses each, at ten different logins.
        for host in 1..=5 {
            for n in 0..2 {
                fail(&t, &format!("user{host}-{n}"), ip(10, 7, 7, host));
            }
        }
        // Every address of the /24 is now slowed for new devices, other networks are not.
        assert!(t.begin("fresh", ip(10, 7, 7, 200), None).is_err());
        assert!(t.begin("fresh", ip(10, 7, 8, 1), None).is_ok());
        // IPv6: one /64 is one range.
        let v6 = |host: u16| Some(IpAddr::from([0x2001, 0xdb8, 0, 1, 0, 0, 0, host]));
        for host in 1..=5 {
            for n in 0..2 {
                fail(&t, &format!("v6-{host}-{n}"), v6(host));
            }
        }
        assert!(t.begin("fresh", v6(999), None).is_err());
        assert_eq!(
            address_range("::ffff:10.7.7.9".parse().unwrap()),
            IpAddr::from([10, 7, 7, 0])
        );
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
        assert!(t.begin("wang", ADDR, None).is_ok());
        clock.advance(Duration::from_secs(16 * 60));
        assert!(t.begin("x", None, None).is_ok()); // triggers a sweep
        assert_eq!(t.held_entries(), 0);
    }

    #[test]
    fn a_spray_of_random_logins_cannot_grow_the_table_past_its_bound_or_flush_a_lockout() {
        let policy = ThrottlePolicy {
            max_entries: 1_000,
            max_addr_failures: u32::MAX,
            max_range_failures: u32::MAX,
            ..ThrottlePolicy::default()
        };
        let (t, _clock) = throttle_with(policy);
        for _ in 0..5 {
            fail(&t, "wang", ip(10, 0, 0, 1));
        }
        for n in 0..20_000u32 {
            let [a, b, c, d] = n.to_be_bytes();
            fail(&t, &format!("random-{n}"), ip(11 + a, b, c, d));
            assert!(t.held_entries() <= 1_000);
        }
        // The login under attack is still locked.
        assert!(t.begin("wang", ip(12, 0, 0, 1), None).is_err());
    }

    #[test]
    fn parallel_attempts_cannot_overshoot_the_limit() {
        let (t, _clock) = throttle();
        let in_flight: Vec<Attempt> = (0..5)
            .map(|_| t.begin("wang", None, None).unwrap())
            .collect();
        assert!(t.begin("wang", None, None).is_err());
        drop(in_flight);
        // Unreported attempts count neither way.
        assert!(t.begin("wang", None, None).is_ok());
    }
}
