//! Shared by the fuzz tests: a small generator (xorshift64*) and the environment knobs of a campaign.

pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A `u64` from the environment variable `name`, else `default`: `HANDTWIN_FUZZ_CASES` (cases per parser) and
/// `HANDTWIN_FUZZ_SEED` (replays a sequence).
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
