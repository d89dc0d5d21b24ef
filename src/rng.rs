//! SplitMix64 (Steele, Lea, Flood 2014): the one small deterministic generator of handtwin. The same seed gives
//! the same numbers on every platform and with every version of every dependency, which synthetic data, training
//! runs, initial noise and test clouds all need. A leaf module with no dependencies.
//!
//! The derived draws are named by how many bits they take, so each user keeps exactly the numbers it drew before
//! this module existed (synthetic clips and trained models are reproducible from their seeds).

/// SplitMix64's increment (the golden ratio in 64 bits); also a good multiplier for mixing indices into seeds.
pub const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64 over a 64-bit state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose first draw advances `state` once.
    pub fn new(state: u64) -> Self {
        Self { state }
    }

    /// The state: `SplitMix64::new(rng.state())` continues exactly where `rng` is (for resumable runs).
    pub fn state(&self) -> u64 {
        self.state
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) from the top 24 bits (every value exact in f32).
    pub fn unit_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [low, high) from [`unit_f32`](Self::unit_f32).
    pub fn range_f32(&mut self, low: f32, high: f32) -> f32 {
        low + (high - low) * self.unit_f32()
    }

    /// Uniform in [0, 1) from the top 53 bits.
    pub fn unit_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in (0, 1] from the top 53 bits: never 0, so its logarithm is finite.
    pub fn open_unit_f64(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    /// `next_u64() mod n` (0 for n = 0): uniform enough for the small n it is used with.
    pub fn below_mod(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }
}

/// `count` standard normal values by Box–Muller, each pair from two uniforms `draw()` gives (the first in (0, 1]
/// so its logarithm is finite).
pub fn box_muller(count: usize, mut draw: impl FnMut() -> (f64, f64)) -> Vec<f32> {
    let mut values = Vec::with_capacity(count + 1);
    while values.len() < count {
        let (u1, u2) = draw();
        let radius = (-2.0 * u1.ln()).sqrt();
        let angle = std::f64::consts::TAU * u2;
        values.push((radius * angle.cos()) as f32);
        values.push((radius * angle.sin()) as f32);
    }
    values.truncate(count);
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_splitmix64() {
        // The first outputs of SplitMix64 seeded 0 (as in Vigna's reference splitmix64.c).
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(rng.next_u64(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn draws_stay_in_their_ranges_and_normals_look_normal() {
        let mut rng = SplitMix64::new(7);
        for _ in 0..10_000 {
            assert!((0.0..1.0).contains(&rng.unit_f32()));
            assert!((0.0..1.0).contains(&rng.unit_f64()));
            let open = rng.open_unit_f64();
            assert!(open > 0.0 && open <= 1.0);
            assert!(rng.below_mod(7) < 7);
        }
        assert_eq!(rng.below_mod(0), 0);
        let values = box_muller(20_001, || (rng.open_unit_f64(), rng.unit_f64()));
        assert_eq!(values.len(), 20_001);
        let mean = values.iter().map(|&v| v as f64).sum::<f64>() / values.len() as f64;
        let variance = values
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            / values.len() as f64;
        assert!(
            mean.abs() < 0.03 && (variance - 1.0).abs() < 0.05,
            "{mean} {variance}"
        );
    }
}
