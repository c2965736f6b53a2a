//! Rate limits and connection caps, per user, database, client address and fingerprint.
//!
//! Each rule is a GCRA (generic cell rate algorithm) bucket: a rate of transactions per
//! second and a burst. GCRA keeps one number per bucket, the theoretical arrival time
//! (TAT) of the next transaction: a transaction may start when `TAT - tolerance <= now`,
//! and moves the TAT on by one emission interval (`1 / rate`). The tolerance is
//! `(burst - 1)` intervals, so `burst` transactions can start at once after a quiet spell.
//!
//! A rule is local (its buckets live in this process) or shared: its buckets live in Redis
//! and one script checks and moves every shared bucket of a transaction at once, on Redis's
//! clock, so that several brisk instances hold one rate between them. The two use the same
//! integer arithmetic in microseconds ([`decide`] here, [`SHARED_SCRIPT`] in Redis), and a
//! test runs both on the same arrivals. When Redis cannot be reached, a shared rule is held
//! by a local bucket of the same rule (each instance then allows the full rate) and counts
//! a fallback: a limiter that refused everything while Redis is down would take the
//! application down with it.
//!
//! brisk writes GCRA itself, rather than taking `governor`: the same algorithm must run as
//! a Redis script for shared rules, and the two must agree to the microsecond.
//!
//! The session charges a transaction when it starts (see `session.rs`), so no transaction
//! is cut in half: a refusal answers the transaction's first message, and every message up
//! to its Sync, with SQLSTATE 53400, as PostgreSQL answers a failed batch.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a rule's buckets are kept per.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Per {
    /// One bucket for everything the rule matches.
    Rule,
    User,
    Database,
    /// The client's IP address (unix-socket clients share one bucket).
    Client,
    /// The fingerprint of the transaction's first statement.
    Fingerprint,
}

impl Per {
    pub fn parse(text: &str) -> Option<Per> {
        Some(match text {
            "rule" => Per::Rule,
            "user" => Per::User,
            "database" => Per::Database,
            "client" => Per::Client,
            "fingerprint" => Per::Fingerprint,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Per::Rule => "rule",
            Per::User => "user",
            Per::Database => "database",
            Per::Client => "client",
            Per::Fingerprint => "fingerprint",
        }
    }
}

/// An address block, `10.0.0.0/8` or `2001:db8::/32`; a bare address is a block of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Option<Cidr> {
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let network: IpAddr = address.trim().parse().ok()?;
        let width = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= width)?,
            None => width,
        };
        Some(Cidr { network, prefix })
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        // An IPv4 client on a dual-stack listener arrives as ::ffff:a.b.c.d.
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(address),
            v4 => v4,
        };
        let prefix = u32::from(self.prefix);
        match (self.network, address) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
                u32::from(network) & mask == u32::from(address) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
                u128::from(network) & mask == u128::from(address) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// One rule of `[[rate_limits]]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    pub user: Option<String>,
    pub database: Option<String>,
    pub client: Option<Cidr>,
    pub fingerprint: Option<u64>,
    pub per: Per,
    /// Transactions per second; `None` for a rule that only caps connections.
    pub rate: Option<f64>,
    pub burst: u32,
    /// How long a transaction may be held back before it is refused instead.
    pub max_wait: Duration,
    /// Connections per bucket; 0 for no cap.
    pub max_connections: usize,
    pub shared: bool,
}

impl Rule {
    /// Microseconds between two transactions at the rule's rate.
    fn emission_us(&self) -> Option<u64> {
        self.rate.map(|r| (1e6 / r).round().max(1.0) as u64)
    }

    fn tolerance_us(&self) -> u64 {
        self.emission_us().unwrap_or(0) * u64::from(self.burst.saturating_sub(1))
    }

    /// What the rule matches, as `user=app database=shop`; `all` when it matches every
    /// client.
    pub fn matches(&self) -> String {
        let mut parts = Vec::new();
        if let Some(user) = &self.user {
            parts.push(format!("user={user}"));
        }
        if let Some(database) = &self.database {
            parts.push(format!("database={database}"));
        }
        if let Some(client) = &self.client {
            parts.push(format!("client={client}"));
        }
        if let Some(fingerprint) = self.fingerprint {
            parts.push(format!("fingerprint={fingerprint:016x}"));
        }
        if parts.is_empty() {
            "all".into()
        } else {
            parts.join(" ")
        }
    }

    /// Whether the rule applies to a client, before any statement is known.
    fn matches_client(&self, client: &Client<'_>) -> bool {
        self.user.as_deref().is_none_or(|u| u == client.user)
            && self
                .database
                .as_deref()
                .is_none_or(|d| d == client.database)
            && self
                .client
                .is_none_or(|cidr| client.addr.is_some_and(|a| cidr.contains(a.ip())))
    }

    /// The bucket a client's transaction goes in (the fingerprint part is added per
    /// transaction).
    fn bucket(&self, client: &Client<'_>) -> String {
        match self.per {
            Per::Rule | Per::Fingerprint => String::new(),
            Per::User => client.user.to_string(),
            Per::Database => client.database.to_string(),
            Per::Client => client
                .addr
                .map(|a| a.ip().to_string())
                .unwrap_or_else(|| "local".into()),
        }
    }
}

/// Who is asking.
pub struct Client<'a> {
    pub user: &'a str,
    pub database: &'a str,
    pub addr: Option<SocketAddr>,
}

/// What a transaction may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Start after this long.
    Delay(Duration),
    /// Refused by the named rule; a retry may succeed after `retry_after`.
    Refuse {
        rule: String,
        retry_after: Duration,
    },
}

/// GCRA on one bucket, in microseconds. `tat` is the bucket's stored theoretical arrival
/// time (`None`: never used, or expired). Returns how long the transaction must wait (zero
/// for at once) and the new TAT, or `Err(retry_after)` when the wait would exceed
/// `max_wait`, leaving the bucket as it was.
pub fn decide(
    tat: Option<u64>,
    now: u64,
    emission: u64,
    tolerance: u64,
    max_wait: u64,
) -> Result<(u64, u64), u64> {
    let tat = tat.unwrap_or(now).max(now);
    let wait = tat.saturating_sub(tolerance).saturating_sub(now);
    if wait > max_wait {
        return Err(wait);
    }
    Ok((wait, tat + emission))
}

/// The shared form of [`decide`], for every shared bucket of one transaction at once: all
/// move, or none does. KEYS are the buckets; ARGV holds (emission, tolerance, max_wait) per
/// key, in microseconds. Returns `{1, 0, wait}` or `{0, i, retry_after}` for the first
/// refusing key `i`. TIME makes Redis's clock the one clock of every instance; a bucket
/// expires once its TAT has passed, when it is the same as an absent one.
pub const SHARED_SCRIPT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local wait = 0
local tats = {}
for i, key in ipairs(KEYS) do
  local emission = tonumber(ARGV[3 * i - 2])
  local tolerance = tonumber(ARGV[3 * i - 1])
  local max_wait = tonumber(ARGV[3 * i])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local w = tat - tolerance - now
  if w < 0 then w = 0 end
  if w > max_wait then return {0, i, w} end
  if w > wait then wait = w end
  tats[i] = tat + emission
end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, string.format('%.0f', tats[i]), 'PX', math.floor((tats[i] - now) / 1000) + 1)
end
return {1, 0, wait}
"#;

/// A rule's counters, for `SHOW LIMITS` and `/metrics`.
#[derive(Debug, Default)]
pub struct RuleCounts {
    pub allowed: AtomicU64,
    pub delayed: AtomicU64,
    pub refused: AtomicU64,
    /// Connections refused by `max_connections`.
    pub connections_refused: AtomicU64,
    /// Shared decisions taken locally because Redis could not be reached.
    pub fallbacks: AtomicU64,
}

/// A rule with its local buckets and counts.
pub struct RuleState {
    pub rule: Rule,
    pub counts: RuleCounts,
    /// Bucket to TAT (microseconds on `Limits::epoch`).
    buckets: Mutex<HashMap<String, u64>>,
    connections: Mutex<HashMap<String, usize>>,
}

impl RuleState {
    /// Local buckets whose TAT has not passed (a shared rule's are in Redis).
    pub fn buckets_in_use(&self) -> usize {
        lock(&self.buckets).len()
    }

    /// Clients connected under the rule's `max_connections`.
    pub fn connections(&self) -> usize {
        lock(&self.connections).values().sum()
    }
}

/// Buckets of expired TATs are the same as absent ones: they are dropped once a rule keeps
/// this many, so a rule per client address cannot grow without bound.
const MAX_BUCKETS: usize = 100_000;

/// How long brisk waits for Redis before it decides locally: a limiter must not add more
/// than a round trip's worth of delay when Redis stalls.
const SHARED_TIMEOUT: Duration = Duration::from_millis(50);

/// Every rule of the configuration, with their state.
pub struct Limits {
    rules: Vec<Arc<RuleState>>,
    epoch: Instant,
    shared: Option<SharedBuckets>,
}

/// The Redis that holds shared buckets.
struct SharedBuckets {
    conn: tokio::sync::OnceCell<Option<redis::aio::ConnectionManager>>,
    target: brisk_redis::RedisTarget,
    /// The SHA1 Redis gave the script (`SCRIPT LOAD`), loaded again after a restart.
    script_sha: Mutex<Option<String>>,
    /// Keys are `{brisk-limits}:rule:bucket`: the hash tag puts every bucket in one slot, so
    /// the script may take several at once on a cluster too.
    prefix: String,
}

impl Limits {
    /// Builds the rules of a configuration, keeping the buckets and counts of rules that
    /// `previous` had under the same name and settings (a reload starts no fresh burst).
    pub fn new(
        rules: &[Rule],
        redis: Option<brisk_redis::RedisTarget>,
        previous: Option<&Limits>,
    ) -> Limits {
        let states = rules
            .iter()
            .map(|rule| {
                previous
                    .and_then(|p| p.rules.iter().find(|s| s.rule == *rule))
                    .cloned()
                    .unwrap_or_else(|| {
                        Arc::new(RuleState {
                            rule: rule.clone(),
                            counts: RuleCounts::default(),
                            buckets: Mutex::new(HashMap::new()),
                            connections: Mutex::new(HashMap::new()),
                        })
                    })
            })
            .collect();
        Limits {
            rules: states,
            epoch: previous.map(|p| p.epoch).unwrap_or_else(Instant::now),
            shared: redis.map(|target| SharedBuckets {
                conn: tokio::sync::OnceCell::new(),
                target,
                script_sha: Mutex::new(None),
                prefix: "{brisk-limits}".into(),
            }),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn rules(&self) -> &[Arc<RuleState>] {
        &self.rules
    }

    /// The rules that apply to a client, with its buckets; `None` when none does, so that
    /// a client no rule names pays nothing per transaction.
    pub fn for_client(self: &Arc<Self>, client: &Client<'_>) -> Option<ClientLimits> {
        let rules: Vec<_> = self
            .rules
            .iter()
            .filter(|s| s.rule.rate.is_some() && s.rule.matches_client(client))
            .map(|s| (s.clone(), s.rule.bucket(client)))
            .collect();
        (!rules.is_empty()).then(|| ClientLimits {
            needs_fingerprint: rules
                .iter()
                .any(|(s, _)| s.rule.fingerprint.is_some() || s.rule.per == Per::Fingerprint),
            rules,
            limits: self.clone(),
        })
    }

    /// Takes a connection slot in every capped rule that matches the client, or names the
    /// rule that is full. The slots are given back when the returned guard drops.
    pub fn connect(&self, client: &Client<'_>) -> Result<ConnectionSlots, (String, usize)> {
        let mut taken = Vec::new();
        for state in &self.rules {
            let rule = &state.rule;
            if rule.max_connections == 0 || !rule.matches_client(client) {
                continue;
            }
            let bucket = rule.bucket(client);
            let mut connections = lock(&state.connections);
            let count = connections.entry(bucket.clone()).or_default();
            if *count >= rule.max_connections {
                drop(connections);
                state
                    .counts
                    .connections_refused
                    .fetch_add(1, Ordering::Relaxed);
                // The guard gives back what was taken so far.
                drop(ConnectionSlots(taken));
                return Err((rule.name.clone(), rule.max_connections));
            }
            *count += 1;
            drop(connections);
            taken.push((state.clone(), bucket));
        }
        Ok(ConnectionSlots(taken))
    }

    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    async fn shared_connection(&self) -> Option<redis::aio::ConnectionManager> {
        let shared = self.shared.as_ref()?;
        shared
            .conn
            .get_or_init(|| async {
                match tokio::time::timeout(
                    brisk_redis::RedisTarget::DEFAULT_RESPONSE_TIMEOUT,
                    shared.target.connection_manager(),
                )
                .await
                {
                    Ok(Ok(conn)) => Some(conn),
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "rate limits: cannot reach the Redis of shared rules; they are held per instance");
                        None
                    }
                    Err(_) => {
                        tracing::warn!("rate limits: Redis did not answer; shared rules are held per instance");
                        None
                    }
                }
            })
            .await
            .clone()
    }
}

/// A client's connection slots, given back on drop.
pub struct ConnectionSlots(Vec<(Arc<RuleState>, String)>);

impl Drop for ConnectionSlots {
    fn drop(&mut self) {
        for (state, bucket) in self.0.drain(..) {
            let mut connections = lock(&state.connections);
            if let Some(count) = connections.get_mut(&bucket) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    connections.remove(&bucket);
                }
            }
        }
    }
}

/// The rules that apply to one client.
pub struct ClientLimits {
    rules: Vec<(Arc<RuleState>, String)>,
    needs_fingerprint: bool,
    limits: Arc<Limits>,
}

impl ClientLimits {
    /// Whether charging needs the fingerprint of the transaction's first statement.
    pub fn needs_fingerprint(&self) -> bool {
        self.needs_fingerprint
    }

    /// Charges one transaction whose first statement has `fingerprint` (if known) to every
    /// rule that applies, and says whether it may start. Unless `may_refuse`, it is never
    /// refused: it waits for its turn, however long.
    pub async fn charge(&self, fingerprint: Option<u64>, may_refuse: bool) -> Verdict {
        let applying: Vec<(&Arc<RuleState>, String)> = self
            .rules
            .iter()
            .filter(|(s, _)| {
                s.rule
                    .fingerprint
                    .is_none_or(|f| fingerprint.is_some_and(|g| f == g))
            })
            .filter_map(|(s, bucket)| {
                if s.rule.per == Per::Fingerprint {
                    // Without a fingerprint the transaction is in no bucket of this rule.
                    fingerprint.map(|f| (s, format!("{f:016x}")))
                } else {
                    Some((s, bucket.clone()))
                }
            })
            .collect();
        if applying.is_empty() {
            return Verdict::Allow;
        }
        let charged: Vec<Arc<RuleState>> = applying.iter().map(|(s, _)| (*s).clone()).collect();
        let (shared, local): (Vec<_>, Vec<_>) =
            applying.into_iter().partition(|(s, _)| s.rule.shared);
        let mut local = local;
        let mut wait = 0u64;
        if !shared.is_empty() {
            match self.charge_shared(&shared, may_refuse).await {
                Some(Ok(w)) => wait = w,
                Some(Err((i, retry))) => {
                    let state = shared[i].0;
                    state.counts.refused.fetch_add(1, Ordering::Relaxed);
                    return Verdict::Refuse {
                        rule: state.rule.name.clone(),
                        retry_after: Duration::from_micros(retry),
                    };
                }
                None => {
                    for (state, _) in &shared {
                        state.counts.fallbacks.fetch_add(1, Ordering::Relaxed);
                    }
                    local.extend(shared);
                }
            }
        }
        match self.charge_local(&local, may_refuse) {
            Ok(w) => wait = wait.max(w),
            Err((state, retry)) => {
                state.counts.refused.fetch_add(1, Ordering::Relaxed);
                return Verdict::Refuse {
                    rule: state.rule.name.clone(),
                    retry_after: Duration::from_micros(retry),
                };
            }
        }
        for state in &charged {
            let count = if wait == 0 {
                &state.counts.allowed
            } else {
                &state.counts.delayed
            };
            count.fetch_add(1, Ordering::Relaxed);
        }
        if wait == 0 {
            Verdict::Allow
        } else {
            Verdict::Delay(Duration::from_micros(wait))
        }
    }

    /// Checks every local bucket, then moves them all: a refusal by one rule leaves the
    /// others as they were.
    fn charge_local<'a>(
        &self,
        rules: &[(&'a Arc<RuleState>, String)],
        may_refuse: bool,
    ) -> Result<u64, (&'a Arc<RuleState>, u64)> {
        let now = self.limits.now_us();
        let mut wait = 0u64;
        for (state, bucket) in rules {
            let Some(emission) = state.rule.emission_us() else {
                continue;
            };
            let tat = lock(&state.buckets).get(bucket).copied();
            let max_wait = max_wait_us(&state.rule, may_refuse);
            match decide(tat, now, emission, state.rule.tolerance_us(), max_wait) {
                Ok((w, _)) => wait = wait.max(w),
                Err(retry) => return Err((state, retry)),
            }
        }
        for (state, bucket) in rules {
            let Some(emission) = state.rule.emission_us() else {
                continue;
            };
            let mut buckets = lock(&state.buckets);
            if buckets.len() >= MAX_BUCKETS {
                buckets.retain(|_, tat| *tat > now);
            }
            let tat = buckets.get(bucket).copied().unwrap_or(now).max(now);
            buckets.insert(bucket.clone(), tat + emission);
        }
        Ok(wait)
    }

    /// The shared buckets in one script call: `None` when Redis could not answer in time.
    async fn charge_shared(
        &self,
        rules: &[(&Arc<RuleState>, String)],
        may_refuse: bool,
    ) -> Option<Result<u64, (usize, u64)>> {
        let shared = self.limits.shared.as_ref()?;
        let mut conn = self.limits.shared_connection().await?;
        let mut keys = Vec::with_capacity(rules.len());
        let mut args = Vec::with_capacity(rules.len() * 3);
        for (state, bucket) in rules {
            let rule = &state.rule;
            keys.push(format!("{}:{}:{}", shared.prefix, rule.name, bucket));
            args.extend([
                rule.emission_us().unwrap_or(1),
                rule.tolerance_us(),
                max_wait_us(rule, may_refuse),
            ]);
        }
        let call = async {
            // EVALSHA, loading the script when Redis does not know it (first use, restart).
            for _ in 0..2 {
                let sha = lock(&shared.script_sha).clone();
                let sha = match sha {
                    Some(sha) => sha,
                    None => {
                        let sha: String = redis::cmd("SCRIPT")
                            .arg("LOAD")
                            .arg(SHARED_SCRIPT)
                            .query_async(&mut conn)
                            .await?;
                        *lock(&shared.script_sha) = Some(sha.clone());
                        sha
                    }
                };
                let reply: redis::RedisResult<(i64, i64, i64)> = redis::cmd("EVALSHA")
                    .arg(&sha)
                    .arg(keys.len())
                    .arg(&keys)
                    .arg(&args)
                    .query_async(&mut conn)
                    .await;
                match reply {
                    Err(e)
                        if e.kind()
                            == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
                    {
                        *lock(&shared.script_sha) = None;
                    }
                    other => return other,
                }
            }
            Err(redis::RedisError::from((
                redis::ErrorKind::Client,
                "the script was lost twice",
            )))
        };
        let reply = match tokio::time::timeout(SHARED_TIMEOUT, call).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "rate limits: Redis script failed; deciding locally");
                return None;
            }
            Err(_) => return None,
        };
        Some(match reply {
            (1, _, wait) => Ok(wait.max(0) as u64),
            (_, i, retry) => Err(((i.max(1) - 1) as usize, retry.max(0) as u64)),
        })
    }
}

/// A rule's `max_wait`, or no limit for a transaction that may not be refused (a day:
/// beyond any wait a rule can build up, and exact in Redis's doubles).
fn max_wait_us(rule: &Rule, may_refuse: bool) -> u64 {
    if may_refuse {
        rule.max_wait.as_micros() as u64
    } else {
        86_400_000_000
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(rate: f64, burst: u32) -> Rule {
        Rule {
            name: "r".into(),
            user: None,
            database: None,
            client: None,
            fingerprint: None,
            per: Per::Rule,
            rate: Some(rate),
            burst,
            max_wait: Duration::ZERO,
            max_connections: 0,
            shared: false,
        }
    }

    #[test]
    fn gcra_allows_the_burst_at_once_then_one_per_interval() {
        // 10/s, burst 3: three at t=0, the fourth must wait 100 ms.
        let (e, tol) = (100_000, 200_000);
        let mut tat = None;
        for _ in 0..3 {
            let (wait, next) = decide(tat, 0, e, tol, 0).expect("within the burst");
            assert_eq!(wait, 0);
            tat = Some(next);
        }
        assert_eq!(decide(tat, 0, e, tol, 0), Err(100_000));
        assert_eq!(decide(tat, 100_000, e, tol, 0).map(|(w, _)| w), Ok(0));
        // With max_wait the fourth is delayed instead.
        assert_eq!(decide(tat, 0, e, tol, 100_000).map(|(w, _)| w), Ok(100_000));
    }

    #[test]
    fn gcra_over_a_long_run_allows_the_rate_plus_the_burst() {
        // Arrivals every 1 ms for 10 s against 50/s with a burst of 5.
        let (e, tol) = (20_000, 80_000);
        let mut tat = None;
        let mut allowed = 0;
        for t in (0..10_000_000).step_by(1_000) {
            if let Ok((_, next)) = decide(tat, t, e, tol, 0) {
                tat = Some(next);
                allowed += 1;
            }
        }
        // The rate over the run, plus the burst's tolerance: 10 s x 50/s + (5 - 1).
        assert_eq!(allowed, 504);
    }

    #[test]
    fn cidr_blocks_match_their_addresses_only() {
        let block = Cidr::parse("10.1.0.0/16").expect("a block");
        assert!(block.contains("10.1.200.3".parse().expect("ip")));
        assert!(!block.contains("10.2.0.1".parse().expect("ip")));
        assert!(block.contains("::ffff:10.1.0.9".parse().expect("ip")));
        let v6 = Cidr::parse("2001:db8::/32").expect("a block");
        assert!(v6.contains("2001:db8:1::5".parse().expect("ip")));
        assert!(!v6.contains("2001:db9::5".parse().expect("ip")));
        assert!(!v6.contains("10.1.0.1".parse().expect("ip")));
        let one = Cidr::parse("192.168.1.7").expect("an address");
        assert!(one.contains("192.168.1.7".parse().expect("ip")));
        assert!(!one.contains("192.168.1.8".parse().expect("ip")));
        assert!(Cidr::parse("0.0.0.0/0")
            .expect("all")
            .contains("8.8.8.8".parse().expect("ip")));
        for bad in ["10.0.0.0/33", "10.0.0/8", "fe80::/129", "", "x/8"] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn a_refusal_by_one_rule_leaves_the_other_untouched() {
        let mut tight = rule(1.0, 1);
        tight.name = "tight".into();
        let loose = rule(1000.0, 1000);
        let limits = Arc::new(Limits::new(&[tight, loose], None, None));
        let client = Client {
            user: "u",
            database: "d",
            addr: None,
        };
        let mine = limits.for_client(&client).expect("both rules apply");
        assert_eq!(mine.charge(None, true).await, Verdict::Allow);
        assert!(
            matches!(mine.charge(None, true).await, Verdict::Refuse { rule, .. } if rule == "tight")
        );
        let loose = &limits.rules()[1];
        assert_eq!(loose.counts.allowed.load(Ordering::Relaxed), 1);
        assert_eq!(lock(&loose.buckets).len(), 1);
    }

    #[test]
    fn connection_slots_come_back_when_dropped() {
        let mut capped = rule(1.0, 1);
        capped.rate = None;
        capped.max_connections = 2;
        capped.per = Per::User;
        let limits = Limits::new(&[capped], None, None);
        let ada = Client {
            user: "ada",
            database: "d",
            addr: None,
        };
        let grace = Client {
            user: "grace",
            ..ada
        };
        let a = limits.connect(&ada).expect("first");
        let b = limits.connect(&ada).expect("second");
        assert_eq!(limits.connect(&ada).err(), Some(("r".to_string(), 2)));
        let _g = limits.connect(&grace).expect("another user's bucket");
        drop(a);
        let _c = limits.connect(&ada).expect("a slot came back");
        drop(b);
    }

    /// A small fixed-seed generator (xorshift64*), so that a failure replays.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self, below: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % below.max(1)
        }
    }

    /// The shared script and the local GCRA take the same decisions on the same arrivals:
    /// random rules and arrivals (fixed seeds), several buckets per transaction, all or
    /// none moving. The script's clock is given instead of Redis's TIME, and its keys do
    /// not expire (expiry is the same as absence once the TAT has passed, which the
    /// arithmetic already treats alike).
    #[test]
    fn the_redis_script_decides_as_the_local_gcra() {
        let redis = brisk_sandbox::Redis::start().expect("redis starts");
        let script = SHARED_SCRIPT
            .replace(
                "local t = redis.call('TIME')\nlocal now = tonumber(t[1]) * 1000000 + tonumber(t[2])",
                "local now = tonumber(ARGV[#ARGV])",
            )
            .replace(
                ", 'PX', math.floor((tats[i] - now) / 1000) + 1",
                "",
            );
        assert!(
            !script.contains("TIME") && !script.contains("PX"),
            "{script}"
        );
        let client = redis::Client::open(redis.url()).expect("a url");
        let mut conn = client.get_connection().expect("redis answers");
        let (mut refused, mut delayed, mut at_once) = (0, 0, 0);
        for seed in 1..=4u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            // Per bucket: (emission, tolerance, max_wait) in microseconds.
            let buckets: Vec<(u64, u64, u64)> = (0..3)
                .map(|_| {
                    let emission = 1_000 + rng.next(200_000);
                    let burst = 1 + rng.next(10);
                    let max_wait = if rng.next(2) == 0 {
                        0
                    } else {
                        rng.next(100_000)
                    };
                    (emission, emission * (burst - 1), max_wait)
                })
                .collect();
            let mut local: Vec<Option<u64>> = vec![None; buckets.len()];
            // A realistic clock: microseconds since 1970, where doubles must stay exact.
            let mut now: u64 = 1_765_000_000_000_000;
            for _ in 0..400 {
                now += rng.next(60_000);
                let chosen: Vec<usize> = (0..buckets.len()).filter(|_| rng.next(3) > 0).collect();
                if chosen.is_empty() {
                    continue;
                }
                // The local model: every bucket checked, then all moved.
                let mut expected = (1i64, 0i64, 0i64);
                let mut moved = Vec::new();
                for (position, &b) in chosen.iter().enumerate() {
                    let (e, tol, wait) = buckets[b];
                    match decide(local[b], now, e, tol, wait) {
                        Ok((w, tat)) => {
                            expected.2 = expected.2.max(w as i64);
                            moved.push((b, tat));
                        }
                        Err(retry) => {
                            expected = (0, position as i64 + 1, retry as i64);
                            break;
                        }
                    }
                }
                if expected.0 == 1 {
                    for (b, tat) in moved {
                        local[b] = Some(tat);
                    }
                }
                let mut cmd = redis::cmd("EVAL");
                cmd.arg(&script).arg(chosen.len());
                for b in &chosen {
                    cmd.arg(format!("{{t}}:{seed}:{b}"));
                }
                for b in &chosen {
                    let (e, tol, wait) = buckets[*b];
                    cmd.arg(e).arg(tol).arg(wait);
                }
                cmd.arg(now);
                let got: (i64, i64, i64) = cmd.query(&mut conn).expect("the script runs");
                assert_eq!(got, expected, "seed {seed} at {now}, buckets {chosen:?}");
                match expected {
                    (0, ..) => refused += 1,
                    (_, _, 0) => at_once += 1,
                    _ => delayed += 1,
                }
            }
        }
        // The runs cover every outcome, so the agreement means something.
        assert!(
            refused > 50 && delayed > 50 && at_once > 50,
            "{refused} {delayed} {at_once}"
        );
    }
}
