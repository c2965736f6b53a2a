//! Random numbers as pgbench draws them: PostgreSQL's `pg_prng` (xoshiro256**, seeded through
//! splitmix64) and pgbench's uniform, Gaussian, exponential and Zipfian algorithms
//! (`src/bin/pgbench/pgbench.c`, PostgreSQL 15), so a script's `\set` draws follow the same
//! distributions under brisk as under pgbench.

/// `random_zipfian`'s parameter range in pgbench (`MIN_ZIPFIAN_PARAM`, `MAX_ZIPFIAN_PARAM`).
pub const ZIPFIAN_PARAM_RANGE: (f64, f64) = (1.001, 1000.0);
/// `random_gaussian`'s smallest parameter in pgbench (`MIN_GAUSSIAN_PARAM`).
pub const MIN_GAUSSIAN_PARAM: f64 = 2.0;

/// xoshiro256**, PostgreSQL's `pg_prng_state`. Small, fast and good enough for load: one per
/// worker, never shared, so drawing needs no lock.
#[derive(Debug, Clone)]
pub struct Prng {
    s: [u64; 4],
}

impl Prng {
    /// Seeds the state as `pg_prng_seed` does: four outputs of splitmix64.
    pub fn seeded(seed: u64) -> Prng {
        let mut sm = seed;
        let mut next = || {
            sm = sm.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = sm;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let mut s = [next(), next(), next(), next()];
        // An all-zero state would only ever produce zeros.
        if s == [0; 4] {
            s[0] = 1;
        }
        Prng { s }
    }

    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1) with 53 random bits (`pg_prng_double`).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [0, range] inclusive, without modulo bias (`pg_prng_uint64_range`'s
    /// bitmask rejection).
    fn below_or_equal(&mut self, range: u64) -> u64 {
        if range == 0 {
            return 0;
        }
        let mask = u64::MAX >> range.leading_zeros();
        loop {
            let value = self.next_u64() & mask;
            if value <= range {
                return value;
            }
        }
    }

    /// pgbench's `random(lb, ub)`: uniform over the integers of [min, max]. The caller
    /// checks `min <= max`.
    pub fn uniform(&mut self, min: i64, max: i64) -> i64 {
        let range = max.wrapping_sub(min) as u64;
        min.wrapping_add(self.below_or_equal(range) as i64)
    }

    /// pgbench's `random_exponential(lb, ub, parameter)`, `parameter > 0`: values near
    /// `min` are the most frequent, and `parameter` says how much more.
    pub fn exponential(&mut self, min: i64, max: i64, parameter: f64) -> i64 {
        let cut = (-parameter).exp();
        // 1 - [0,1) is in (0, 1], so the log is finite.
        let uniform = 1.0 - self.next_f64();
        let rand = -(cut + (1.0 - cut) * uniform).ln() / parameter;
        min + ((max - min + 1) as f64 * rand) as i64
    }

    /// pgbench's `random_gaussian(lb, ub, parameter)`, `parameter >= 2`: a normal
    /// distribution centred on the middle of the range, cut at `parameter` standard
    /// deviations on each side (Box-Muller, as pgbench).
    pub fn gaussian(&mut self, min: i64, max: i64, parameter: f64) -> i64 {
        let stdev = loop {
            let rand1 = 1.0 - self.next_f64();
            let rand2 = self.next_f64();
            let var_sqrt = (-2.0 * rand1.ln()).sqrt();
            let stdev = var_sqrt * (2.0 * std::f64::consts::PI * rand2).sin();
            if (-parameter..parameter).contains(&stdev) {
                break stdev;
            }
        };
        let rand = (stdev + parameter) / (parameter * 2.0);
        min + ((max - min + 1) as f64 * rand) as i64
    }

    /// pgbench's `random_zipfian(lb, ub, s)`, `s` in [`ZIPFIAN_PARAM_RANGE`]: `min` is the
    /// most frequent value, `min + 1` about 2^s times less, and so on. Rejection inversion
    /// after Devroye, "Non-Uniform Random Variate Generation" (1986), p. 550, as pgbench's
    /// `computeIterativeZipfian`.
    pub fn zipfian(&mut self, min: i64, max: i64, s: f64) -> i64 {
        let n = max - min + 1;
        if n <= 1 {
            return min;
        }
        let b = 2f64.powf(s - 1.0);
        let x = loop {
            let u = self.next_f64();
            let v = self.next_f64();
            let x = u.powf(-1.0 / (s - 1.0)).floor();
            let t = (1.0 + 1.0 / x).powf(s - 1.0);
            if v * x * (t - 1.0) / (b - 1.0) <= t / b && x <= n as f64 {
                break x;
            }
        };
        min - 1 + x as i64
    }

    /// An exponentially distributed value of mean 1: the gap between Poisson arrivals, in
    /// units of the mean gap.
    pub fn exp1(&mut self) -> f64 {
        -(1.0 - self.next_f64()).ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DRAWS: usize = 200_000;

    fn counts(draw: impl FnMut() -> i64, min: i64, max: i64) -> Vec<f64> {
        let mut draw = draw;
        let mut counts = vec![0.0; (max - min + 1) as usize];
        for _ in 0..DRAWS {
            let value = draw();
            assert!(
                (min..=max).contains(&value),
                "{value} outside [{min}, {max}]"
            );
            counts[(value - min) as usize] += 1.0;
        }
        counts
    }

    #[test]
    fn uniform_covers_the_range_evenly() {
        for seed in [1, 2, 42] {
            let mut rng = Prng::seeded(seed);
            let counts = counts(|| rng.uniform(5, 14), 5, 14);
            let expected = DRAWS as f64 / 10.0;
            // Chi-square with 9 degrees of freedom: 27.88 is its 0.999 quantile.
            let chi: f64 = counts
                .iter()
                .map(|c| (c - expected).powi(2) / expected)
                .sum();
            assert!(chi < 27.88, "seed {seed}: chi-square {chi}");
        }
    }

    #[test]
    fn uniform_handles_the_extreme_ranges() {
        let mut rng = Prng::seeded(7);
        assert_eq!(rng.uniform(3, 3), 3);
        for _ in 0..1000 {
            let _ = rng.uniform(i64::MIN, i64::MAX);
            let v = rng.uniform(-2, 1);
            assert!((-2..=1).contains(&v));
        }
    }

    #[test]
    fn gaussian_is_centred_with_the_stated_spread() {
        let mut rng = Prng::seeded(3);
        // Range of 1,000 cut at 4 standard deviations: one deviation is 125 values.
        let counts = counts(|| rng.gaussian(1, 1000, 4.0), 1, 1000);
        let mean: f64 = counts
            .iter()
            .enumerate()
            .map(|(i, c)| (i as f64 + 1.0) * c)
            .sum::<f64>()
            / DRAWS as f64;
        let var: f64 = counts
            .iter()
            .enumerate()
            .map(|(i, c)| (i as f64 + 1.0 - mean).powi(2) * c)
            .sum::<f64>()
            / DRAWS as f64;
        assert!((mean - 500.5).abs() < 2.0, "mean {mean}");
        // The cut at 4 sigma removes 0.006% of the mass: the spread stays near 125.
        assert!((var.sqrt() - 125.0).abs() < 3.0, "stdev {}", var.sqrt());
        // About 68.3% within one deviation of the centre.
        let within: f64 = counts[375..625].iter().sum::<f64>() / DRAWS as f64;
        assert!((within - 0.683).abs() < 0.01, "{within}");
    }

    #[test]
    fn exponential_falls_off_at_the_stated_rate() {
        let mut rng = Prng::seeded(11);
        // The density is proportional to exp(-p x / range) (pgbench's documentation), so
        // the first tenth of the range holds (1 - e^(-p/10)) / (1 - e^-p) of the draws.
        let p = 5.0;
        let counts = counts(|| rng.exponential(1, 100, p), 1, 100);
        let first_tenth: f64 = counts[..10].iter().sum::<f64>() / DRAWS as f64;
        let expected = (1.0 - (-p / 10.0f64).exp()) / (1.0 - (-p).exp());
        assert!(
            (first_tenth - expected).abs() < 0.01,
            "{first_tenth} vs {expected}"
        );
        assert!(counts[0] > counts[50] && counts[50] > counts[99]);
    }

    #[test]
    fn zipfian_follows_the_power_law() {
        for (seed, s) in [(5, 1.5), (6, 2.0), (8, 1.1)] {
            let mut rng = Prng::seeded(seed);
            let counts = counts(|| rng.zipfian(1, 1000, s), 1, 1000);
            // P(k) is proportional to k^-s: the first value is 2^s times as frequent as the
            // second and 3^s times the third.
            let ratio2 = counts[0] / counts[1];
            let ratio3 = counts[0] / counts[2];
            assert!(
                (ratio2 / 2f64.powf(s) - 1.0).abs() < 0.05,
                "s={s}: {ratio2} vs {}",
                2f64.powf(s)
            );
            assert!(
                (ratio3 / 3f64.powf(s) - 1.0).abs() < 0.08,
                "s={s}: {ratio3} vs {}",
                3f64.powf(s)
            );
        }
    }

    #[test]
    fn same_seed_same_draws() {
        let mut a = Prng::seeded(99);
        let mut b = Prng::seeded(99);
        let mut c = Prng::seeded(100);
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }
}
