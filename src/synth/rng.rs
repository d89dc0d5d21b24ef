//! synth's draws over the crate's SplitMix64 (`crate::rng`): the same seed gives the same clips on every
//! platform and every version of every dependency, which a data set needs.

use crate::rng::SplitMix64;

/// The generator of a clip's plan.
#[derive(Clone, Debug)]
pub struct Rng(SplitMix64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(SplitMix64::new(seed))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        self.0.unit_f32()
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        self.0.range_f32(lo, hi)
    }

    /// Uniform in 0..n (n > 0; 0 for n = 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.0.below_mod(n)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.0.unit_f64() < p
    }

    /// `c` with each channel scaled by a factor in [1 − amount, 1 + amount].
    pub fn jitter_color(&mut self, c: [f32; 3], amount: f32) -> [f32; 3] {
        let scale = self.range(1.0 - amount, 1.0 + amount);
        c.map(|v| (v * scale * self.range(1.0 - amount * 0.5, 1.0 + amount * 0.5)).clamp(0.0, 1.0))
    }
}
