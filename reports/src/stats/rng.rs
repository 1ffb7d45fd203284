//! The seeded random source of this crate's resampling: xoshiro256** (Blackman
//! & Vigna 2018) with its state filled by SplitMix64 from a 64-bit seed.
//!
//! The crate does not depend on `metarec-suites` (where the runner's generator
//! lives), so it carries this small copy. Streams are fixed by the seed alone:
//! changing this file changes every Monte Carlo p-value and bootstrap interval,
//! and the tests below pin the first outputs.

/// SplitMix64 step: advances `state` and returns the next output.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Derives a seed from a base seed and labels (FNV-1a over the labels, each
/// followed by a 0xff separator, then one SplitMix64 step), so that streams of
/// different comparisons are independent of the order they are computed in.
pub fn derive_seed(base: u64, labels: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for label in labels {
        for &b in label.as_bytes().iter().chain(&[0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    let mut state = base ^ h;
    splitmix64(&mut state)
}

/// xoshiro256** generator.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// Seeds the four state words with consecutive SplitMix64 outputs of `seed`.
    pub fn new(seed: u64) -> Self {
        let mut state = seed;
        let s = [splitmix64(&mut state), splitmix64(&mut state), splitmix64(&mut state), splitmix64(&mut state)];
        Rng { s }
    }

    /// Next 64 random bits.
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

    /// Uniform integer in `0..n` without bias (Lemire's multiply-and-reject);
    /// 0 when `n == 0`.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Lemire's rejection: a draw is rejected when its low word is below 2^64 mod n, which is
        // below n, so the division is made only for the draws whose low word is below n.
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        if (m as u64) < n {
            let threshold = n.wrapping_neg() % n; // 2^64 mod n
            while (m as u64) < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
            }
        }
        (m >> 64) as u64
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_reference_outputs() {
        // Vigna's splitmix64.c from state 0: 0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4
        let mut s = 0;
        assert_eq!(splitmix64(&mut s), 0xe220_a839_7b1d_cdaf);
        assert_eq!(splitmix64(&mut s), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn xoshiro_reference_outputs() {
        // xoshiro256starstar.c from state {1, 2, 3, 4}: 11520, 0, 1509978240,
        // 1215971899390074240 (the published reference sequence)
        let mut r = Rng { s: [1, 2, 3, 4] };
        let got: Vec<u64> = (0..4).map(|_| r.next_u64()).collect();
        assert_eq!(got, vec![11520, 0, 1509978240, 1215971899390074240]);
        // seeded from 0 through SplitMix64 (same Python transcription as above)
        let mut r = Rng::new(0);
        assert_eq!(r.next_u64(), 0x99ec_5f36_cb75_f2b4);
        assert_eq!(r.next_u64(), 0xbf6e_1f78_4956_452a);
    }

    #[test]
    fn below_and_uniform_stay_in_range() {
        let mut r = Rng::new(7);
        let mut seen = [0usize; 3];
        for _ in 0..3000 {
            seen[r.below(3) as usize] += 1;
            let u = r.uniform();
            assert!((0.0..1.0).contains(&u));
        }
        // each bin ~1000; 5 sigma = 5*sqrt(3000*2/9) = 129
        assert!(seen.iter().all(|&c| (871..=1129).contains(&c)), "{seen:?}");
        assert_eq!(r.below(0), 0);
        assert_eq!(r.below(1), 0);
    }

    #[test]
    fn derived_seeds_differ_by_label_and_split() {
        let a = derive_seed(1, &["ml", "warm"]);
        assert_eq!(a, derive_seed(1, &["ml", "warm"]));
        assert_ne!(a, derive_seed(2, &["ml", "warm"]));
        assert_ne!(a, derive_seed(1, &["mlw", "arm"]));
        assert_ne!(a, derive_seed(1, &["warm", "ml"]));
    }
}
