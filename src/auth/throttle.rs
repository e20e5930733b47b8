//! Slowing password guessing. Each failed sign-in counts against the account (the email as
//! typed, lowercased, whether or not an account has it, so the throttle never tells which
//! emails exist) and against the client address. Past a number of free failures each one
//! locks the account (or the address) for a delay that doubles, up to a cap: a person who
//! mistypes barely notices, a guesser is held to a few attempts an hour. The address limit
//! stops one client from trying a few passwords on each of many accounts.
//!
//! Counts are kept in memory only (a restart forgets them), at most [`MAX_KEYS`] keys per
//! map, and forgotten once a key has been quiet for `max_delay_secs`.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use super::bounded::{BoundedMap, Expiring, MAX_KEYS};
use super::{NANOS_PER_SEC, ceil_secs, unix_nanos};
use crate::clock::Clock;

/// How failed sign-ins are slowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleSettings {
    /// Failures an account may have before it is locked (default 5).
    pub free_failures: u32,
    /// Failures one address may have, over all accounts, before it is locked (default 20).
    pub address_free_failures: u32,
    /// The first lock, seconds; each further failure doubles it (default 1).
    pub base_delay_secs: u64,
    /// The longest lock, seconds (default 900). It is also how long a key must stay quiet
    /// (no failure, no lock running) before its failures are forgotten.
    pub max_delay_secs: u64,
}

impl Default for ThrottleSettings {
    fn default() -> ThrottleSettings {
        ThrottleSettings {
            free_failures: 5,
            address_free_failures: 20,
            base_delay_secs: 1,
            max_delay_secs: 900,
        }
    }
}

impl ThrottleSettings {
    /// The lock after `failures` failures with `free` free ones: none before `free`, then
    /// `base_delay_secs * 2^(failures - free)`, at most `max_delay_secs`.
    fn delay_secs(&self, failures: u32, free: u32) -> u64 {
        if failures < free {
            return 0;
        }
        let factor = 1u64.checked_shl(failures - free).unwrap_or(u64::MAX);
        self.base_delay_secs
            .saturating_mul(factor)
            .min(self.max_delay_secs)
    }
}

/// The failures of one account or address.
#[derive(Debug, Default)]
struct Failures {
    count: u32,
    /// Unix nanoseconds until which sign-ins are refused.
    locked_until: i128,
    /// Unix nanoseconds from which the failures are forgotten.
    forget_at: i128,
}

impl Expiring for Failures {
    fn expired(&self, now: i128) -> bool {
        now >= self.forget_at && now >= self.locked_until
    }
}

struct Maps {
    accounts: BoundedMap<Failures>,
    addresses: BoundedMap<Failures>,
}

/// Failed sign-ins per account and per client address. Call [`check`](Self::check) before
/// verifying a password, then [`failed`](Self::failed) or [`succeeded`](Self::succeeded).
pub struct LoginThrottle {
    settings: ThrottleSettings,
    clock: Arc<dyn Clock>,
    maps: Mutex<Maps>,
}

impl LoginThrottle {
    pub fn new(settings: ThrottleSettings, clock: Arc<dyn Clock>) -> LoginThrottle {
        LoginThrottle::with_capacity(settings, clock, MAX_KEYS)
    }

    fn with_capacity(
        settings: ThrottleSettings,
        clock: Arc<dyn Clock>,
        keys: usize,
    ) -> LoginThrottle {
        LoginThrottle {
            settings,
            clock,
            maps: Mutex::new(Maps {
                accounts: BoundedMap::new(keys),
                addresses: BoundedMap::new(keys),
            }),
        }
    }

    pub fn settings(&self) -> &ThrottleSettings {
        &self.settings
    }

    /// `Ok` if a sign-in for `account` (an email) from `address` may be tried now; else the
    /// seconds until it may (for `Retry-After`), without looking at the password.
    pub fn check(&self, account: &str, address: &str) -> Result<(), u64> {
        let (account, address) = (account_key(account), address_key(address));
        let now = unix_nanos(self.clock.now());
        let maps = self.lock();
        let until = [
            maps.accounts.get(&account, now),
            maps.addresses.get(&address, now),
        ]
        .into_iter()
        .flatten()
        .map(|f| f.locked_until)
        .max()
        .unwrap_or(i128::MIN);
        if until > now {
            Err(ceil_secs(until - now).max(1))
        } else {
            Ok(())
        }
    }

    /// Counts a failed sign-in against `account` and `address`, locking either past its
    /// free failures.
    pub fn failed(&self, account: &str, address: &str) {
        let now = unix_nanos(self.clock.now());
        let s = self.settings;
        let window = i128::from(s.max_delay_secs) * NANOS_PER_SEC;
        let mut maps = self.lock();
        let maps = &mut *maps;
        for (map, key, free) in [
            (&mut maps.accounts, account_key(account), s.free_failures),
            (
                &mut maps.addresses,
                address_key(address),
                s.address_free_failures,
            ),
        ] {
            let f = map.entry(&key, now, Failures::default);
            f.count = f.count.saturating_add(1);
            if f.count >= free {
                let lock = i128::from(s.delay_secs(f.count, free)) * NANOS_PER_SEC;
                f.locked_until = f.locked_until.max(now + lock);
            }
            f.forget_at = f.locked_until.max(now) + window;
        }
    }

    /// Forgets the failures of `account` after a successful sign-in. The address keeps its
    /// count: one good password must not reset a client that is guessing at other accounts.
    pub fn succeeded(&self, account: &str, _address: &str) {
        self.lock().accounts.remove(&account_key(account));
    }

    fn lock(&self) -> MutexGuard<'_, Maps> {
        // The maps are consistent after any panic (plain field writes), so poison is moot.
        self.maps.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The account an email names for throttling: trimmed and lowercased, as typed.
fn account_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The client an address names for throttling. An IPv6 client usually holds a whole /64,
/// so addresses in one /64 count together; an IPv4-mapped address counts as the IPv4
/// address. A port, if any, is ignored; a string that is no address is used as it is.
fn address_key(address: &str) -> String {
    let address = address.trim();
    let ip = address
        .parse::<IpAddr>()
        .ok()
        .or_else(|| address.parse::<SocketAddr>().ok().map(|s| s.ip()));
    match ip {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                format!("{}/64", std::net::Ipv6Addr::from(segments))
            }
        },
        None => address.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;

    const T0: u64 = 1_700_000_000;

    fn throttle(settings: ThrottleSettings) -> (LoginThrottle, Arc<FixedClock>) {
        let clock = Arc::new(FixedClock::at(T0));
        (LoginThrottle::new(settings, clock.clone()), clock)
    }

    fn fail(t: &LoginThrottle, account: &str, address: &str, times: u32) {
        for _ in 0..times {
            t.failed(account, address);
        }
    }

    #[test]
    fn delay_doubles_and_unlocks() {
        let (t, clock) = throttle(ThrottleSettings::default());
        fail(&t, "a@example.com", "192.0.2.1", 4);
        assert_eq!(t.check("a@example.com", "192.0.2.1"), Ok(()));
        let mut now = T0;
        for expected in [1, 2, 4, 8, 16] {
            t.failed("a@example.com", "192.0.2.1");
            assert_eq!(t.check("a@example.com", "192.0.2.1"), Err(expected));
            // Another address is refused too: the account is locked.
            assert_eq!(t.check("a@example.com", "198.51.100.7"), Err(expected));
            // Another account from this address is not.
            assert_eq!(t.check("b@example.com", "192.0.2.1"), Ok(()));
            if expected > 1 {
                clock.set(now + 1);
                assert_eq!(t.check("a@example.com", "192.0.2.1"), Err(expected - 1));
            }
            now += expected;
            clock.set(now);
            assert_eq!(t.check("a@example.com", "192.0.2.1"), Ok(()));
        }
    }

    #[test]
    fn delay_is_capped() {
        let settings = ThrottleSettings {
            free_failures: 1,
            base_delay_secs: 3,
            max_delay_secs: 20,
            ..ThrottleSettings::default()
        };
        let (t, clock) = throttle(settings);
        let mut now = T0;
        for expected in [3, 6, 12, 20, 20, 20] {
            t.failed("a@example.com", "192.0.2.1");
            assert_eq!(t.check("a@example.com", "192.0.2.1"), Err(expected));
            now += expected;
            clock.set(now);
            assert_eq!(t.check("a@example.com", "192.0.2.1"), Ok(()));
        }
        // Huge failure counts neither overflow nor exceed the cap.
        fail(&t, "a@example.com", "192.0.2.1", 200);
        assert_eq!(t.check("a@example.com", "192.0.2.1"), Err(20));
    }

    #[test]
    fn quiet_accounts_are_forgotten() {
        let (t, clock) = throttle(ThrottleSettings::default());
        fail(&t, "a@example.com", "192.0.2.1", 6);
        assert_eq!(t.check("a@example.com", "192.0.2.1"), Err(2));
        // The lock runs out, then 900 quiet seconds: the count starts afresh.
        clock.set(T0 + 2 + 899);
        t.failed("a@example.com", "192.0.2.1");
        assert_eq!(t.check("a@example.com", "192.0.2.1"), Err(4));
        clock.set(T0 + 2 + 899 + 4 + 900);
        fail(&t, "a@example.com", "192.0.2.1", 4);
        assert_eq!(t.check("a@example.com", "192.0.2.1"), Ok(()));
    }

    #[test]
    fn address_limit_spans_accounts() {
        let (t, clock) = throttle(ThrottleSettings::default());
        // Four guesses at each of five accounts: no account locked, the address is.
        for n in 0..5 {
            fail(&t, &format!("user{n}@example.com"), "192.0.2.1", 4);
        }
        assert_eq!(t.check("user0@example.com", "198.51.100.7"), Ok(()));
        assert_eq!(t.check("someone@example.com", "192.0.2.1"), Err(1));
        assert_eq!(t.check("someone@example.com", "198.51.100.7"), Ok(()));
        clock.set(T0 + 1);
        assert_eq!(t.check("someone@example.com", "192.0.2.1"), Ok(()));
        t.failed("someone@example.com", "192.0.2.1");
        assert_eq!(t.check("other@example.com", "192.0.2.1"), Err(2));
    }

    #[test]
    fn success_resets_the_account_not_the_address() {
        let settings = ThrottleSettings {
            address_free_failures: 8,
            ..ThrottleSettings::default()
        };
        let (t, _clock) = throttle(settings);
        fail(&t, "a@example.com", "192.0.2.1", 4);
        t.succeeded("a@example.com", "192.0.2.1");
        fail(&t, "a@example.com", "192.0.2.1", 3);
        assert_eq!(t.check("a@example.com", "192.0.2.1"), Ok(()));
        t.succeeded("A@example.com", "192.0.2.1");
        t.failed("a@example.com", "192.0.2.1");
        // The account has one failure, the address eight: it is the address that is locked.
        assert_eq!(t.check("a@example.com", "198.51.100.7"), Ok(()));
        assert_eq!(t.check("a@example.com", "192.0.2.1"), Err(1));
    }

    #[test]
    fn accounts_ignore_case_and_existence() {
        let (t, _clock) = throttle(ThrottleSettings::default());
        fail(&t, "Alice@Example.COM", "192.0.2.1", 3);
        fail(&t, " alice@example.com", "198.51.100.7", 2);
        assert_eq!(t.check("ALICE@example.com", "203.0.113.9"), Err(1));
    }

    #[test]
    fn ipv6_counts_per_64() {
        let settings = ThrottleSettings {
            address_free_failures: 2,
            ..ThrottleSettings::default()
        };
        let (t, _clock) = throttle(settings);
        t.failed("a@example.com", "2001:db8:1:2::1");
        t.failed("b@example.com", "[2001:db8:1:2:ffff::9]:443");
        assert_eq!(t.check("c@example.com", "2001:db8:1:2:abcd::"), Err(1));
        assert_eq!(t.check("c@example.com", "2001:db8:1:3::1"), Ok(()));
        assert_eq!(address_key("::ffff:192.0.2.1"), "192.0.2.1");
        assert_eq!(address_key("192.0.2.1:8080"), "192.0.2.1");
        assert_eq!(address_key("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(address_key("unix socket"), "unix socket");
    }

    #[test]
    fn memory_is_bounded() {
        let clock = Arc::new(FixedClock::at(T0));
        let t = LoginThrottle::with_capacity(ThrottleSettings::default(), clock.clone(), 3);
        fail(&t, "a@example.com", "192.0.2.1", 5);
        for n in 0..3 {
            t.failed(&format!("user{n}@example.com"), "192.0.2.1");
        }
        // The oldest account made room.
        assert_eq!(t.check("a@example.com", "198.51.100.7"), Ok(()));
        assert_eq!(t.lock().accounts.len(), 3);
        // Long after, the quiet entries are swept out.
        clock.set(T0 + 10_000);
        t.failed("late@example.com", "198.51.100.7");
        let maps = t.lock();
        assert_eq!((maps.accounts.len(), maps.addresses.len()), (1, 1));
    }
}
