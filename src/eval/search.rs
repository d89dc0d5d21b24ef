//! Action search: the cross-entropy method over a box of action parameters, with the world model as the
//! simulator (`handtwin search`; issue 30). Each generation samples a population from a diagonal Gaussian,
//! simulates and scores every candidate (higher is better, e.g. −LPIPS to a goal), refits the Gaussian to the
//! best fraction, and shrinks towards them.
//!
//! Why CEM: the score is a black box (a diffusion model, minutes per sample on a large model), noisy (the seed),
//! and the parameters are few (a grasp point, times, a distance): a population method needs no gradients, shares
//! one seed across a generation so candidates are compared fairly, and evaluates a generation in parallel (or on
//! many machines). The whole state is plain data, so a search resumes exactly where it stopped.

use crate::rng::{SplitMix64, box_muller};
use serde::{Deserialize, Serialize};

/// The box the parameters live in; candidates are clipped to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchBox {
    pub low: Vec<f64>,
    pub high: Vec<f64>,
}

impl SearchBox {
    pub fn new(low: Vec<f64>, high: Vec<f64>) -> Result<Self, String> {
        if low.is_empty() || low.len() != high.len() {
            return Err(format!(
                "the box needs as many lower as upper bounds, at least one ({} and {})",
                low.len(),
                high.len()
            ));
        }
        if let Some(i) = (0..low.len())
            .find(|&i| !(low[i].is_finite() && high[i].is_finite() && low[i] <= high[i]))
        {
            return Err(format!(
                "dimension {i}: [{}, {}] is not an interval",
                low[i], high[i]
            ));
        }
        Ok(Self { low, high })
    }

    pub fn dimensions(&self) -> usize {
        self.low.len()
    }

    fn clip(&self, x: &mut [f64]) {
        for (i, v) in x.iter_mut().enumerate() {
            *v = v.clamp(self.low[i], self.high[i]);
        }
    }
}

/// The method's settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CemSettings {
    /// Candidates per generation.
    pub population: usize,
    /// The fraction refitted to (at least one candidate).
    pub elite_fraction: f64,
    /// The first spread, as a fraction of each side of the box.
    pub initial_spread: f64,
    /// The spread never falls below this fraction of each side (keeps exploring).
    pub min_spread: f64,
    /// New mean and spread = smoothing × fitted + (1 − smoothing) × old.
    pub smoothing: f64,
}

impl Default for CemSettings {
    fn default() -> Self {
        Self {
            population: 8,
            elite_fraction: 0.25,
            initial_spread: 0.3,
            min_spread: 0.01,
            smoothing: 0.8,
        }
    }
}

/// One simulated candidate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluated {
    pub generation: usize,
    pub parameters: Vec<f64>,
    pub score: f64,
}

/// Everything a search is: resumable from its JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CemState {
    pub search_box: SearchBox,
    pub settings: CemSettings,
    pub generation: usize,
    pub mean: Vec<f64>,
    pub spread: Vec<f64>,
    /// The generator's state after the last proposal.
    pub rng: u64,
    /// Every candidate so far, in order.
    pub evaluated: Vec<Evaluated>,
}

impl CemState {
    /// A search of `search_box` starting around `start` (default: the box's centre).
    pub fn new(
        search_box: SearchBox,
        start: Option<Vec<f64>>,
        settings: CemSettings,
        seed: u64,
    ) -> Result<Self, String> {
        let n = search_box.dimensions();
        let mut mean = match start {
            Some(start) if start.len() == n => start,
            Some(start) => {
                return Err(format!(
                    "the start has {} parameters but the box {n}",
                    start.len()
                ));
            }
            None => (0..n)
                .map(|i| 0.5 * (search_box.low[i] + search_box.high[i]))
                .collect(),
        };
        search_box.clip(&mut mean);
        if settings.population == 0 {
            return Err("the population must be at least 1".into());
        }
        let spread = (0..n)
            .map(|i| settings.initial_spread * (search_box.high[i] - search_box.low[i]))
            .collect();
        Ok(Self {
            search_box,
            settings,
            generation: 0,
            mean,
            spread,
            rng: seed,
            evaluated: Vec::new(),
        })
    }

    /// The next generation's candidates (the first one is the current mean, so the start is always tried).
    pub fn propose(&mut self) -> Vec<Vec<f64>> {
        let n = self.mean.len();
        let mut rng = SplitMix64::new(self.rng);
        let count = self.settings.population;
        let normals = box_muller(count * n, || (rng.open_unit_f64(), rng.unit_f64()));
        self.rng = rng.state();
        (0..count)
            .map(|k| {
                let mut x: Vec<f64> = if k == 0 {
                    self.mean.clone()
                } else {
                    (0..n)
                        .map(|i| self.mean[i] + self.spread[i] * f64::from(normals[k * n + i]))
                        .collect()
                };
                self.search_box.clip(&mut x);
                x
            })
            .collect()
    }

    /// Takes a generation's scores (higher is better) and refits the Gaussian to its best.
    pub fn update(&mut self, candidates: Vec<Vec<f64>>, scores: &[f64]) {
        let mut scored: Vec<(Vec<f64>, f64)> =
            candidates.into_iter().zip(scores.iter().copied()).collect();
        for (parameters, score) in &scored {
            self.evaluated.push(Evaluated {
                generation: self.generation,
                parameters: parameters.clone(),
                score: *score,
            });
        }
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        let elite = ((scored.len() as f64 * self.settings.elite_fraction).ceil() as usize)
            .clamp(1, scored.len().max(1));
        let n = self.mean.len();
        let alpha = self.settings.smoothing.clamp(0.0, 1.0);
        for i in 0..n {
            let values: Vec<f64> = scored.iter().take(elite).map(|(x, _)| x[i]).collect();
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            // The spread of the elite around the *old* mean: while the elite lies far from it (the search is
            // still travelling) the spread stays wide, so a start far from the optimum does not freeze halfway;
            // once the elite surrounds the mean it shrinks as plain CEM does.
            let old = self.mean[i];
            let variance =
                values.iter().map(|v| (v - old).powi(2)).sum::<f64>() / values.len() as f64;
            let side = self.search_box.high[i] - self.search_box.low[i];
            self.mean[i] = alpha * mean + (1.0 - alpha) * self.mean[i];
            self.spread[i] = (alpha * variance.sqrt() + (1.0 - alpha) * self.spread[i])
                .max(self.settings.min_spread * side);
        }
        self.generation += 1;
    }

    /// The best candidate so far.
    pub fn best(&self) -> Option<&Evaluated> {
        self.evaluated
            .iter()
            .max_by(|a, b| a.score.total_cmp(&b.score))
    }

    /// Per generation: its best and mean score.
    pub fn convergence(&self) -> Vec<(f64, f64)> {
        (0..self.generation)
            .map(|g| {
                let scores: Vec<f64> = self
                    .evaluated
                    .iter()
                    .filter(|e| e.generation == g)
                    .map(|e| e.score)
                    .collect();
                let best = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let mean = scores.iter().sum::<f64>() / scores.len().max(1) as f64;
                (best, mean)
            })
            .collect()
    }
}

/// Runs generations until `budget` simulations in all (counting those already in `state`) or until `evaluate`
/// fails. `evaluate(generation, candidates)` simulates and scores a generation; `after` sees the state after each
/// (to save it, to draw progress).
pub fn run<E>(
    state: &mut CemState,
    budget: usize,
    mut evaluate: impl FnMut(usize, &[Vec<f64>]) -> Result<Vec<f64>, E>,
    mut after: impl FnMut(&CemState),
) -> Result<(), E> {
    while state.evaluated.len() + state.settings.population <= budget {
        let generation = state.generation;
        let candidates = state.propose();
        let scores = evaluate(generation, &candidates)?;
        state.update(candidates, &scores);
        after(state);
    }
    Ok(())
}

/// One machine's share of independent simulations: `--shard I/N` takes the jobs whose index is I − 1 modulo N.
/// Shards meet in a shared cache folder (every simulation is an entry keyed by its inputs), so any machine that
/// later runs the same command without `--shard` finds every simulation there and only scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// 1-based, as Slurm's array indices and GNU parallel's `{%}` slots usually are.
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Parses `I/N` with 1 ≤ I ≤ N.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("\"{text}\" is not a shard I/N with 1 ≤ I ≤ N (for example 2/8)");
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse::<usize>().map_err(|_| bad())?,
            n.trim().parse::<usize>().map_err(|_| bad())?,
        );
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }

    /// Whether job `job` (0-based) is this shard's.
    pub fn owns(&self, job: usize) -> bool {
        job % self.count == self.index - 1
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// `count` points of the Halton sequence (bases 2, 3, 5, …) scaled into `search_box`: a fixed, space-filling
/// design to compare an adaptive search against at the same budget (a full grid has too few points per axis in
/// more than a few dimensions: 64 points in 7 dimensions is under two per axis).
pub fn halton_design(search_box: &SearchBox, count: usize) -> Vec<Vec<f64>> {
    const PRIMES: [u64; 12] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];
    let radical_inverse = |mut i: u64, base: u64| -> f64 {
        let (mut value, mut scale) = (0.0, 1.0 / base as f64);
        while i > 0 {
            value += (i % base) as f64 * scale;
            i /= base;
            scale /= base as f64;
        }
        value
    };
    (1..=count as u64)
        .map(|i| {
            (0..search_box.dimensions())
                .map(|d| {
                    let u = radical_inverse(i, PRIMES[d % PRIMES.len()]);
                    search_box.low[d] + u * (search_box.high[d] - search_box.low[d])
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A closed-form score: minus the squared distance to `optimum`.
    fn bowl(optimum: &[f64]) -> impl Fn(&[f64]) -> f64 + '_ {
        move |x| {
            -x.iter()
                .zip(optimum)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>()
        }
    }

    fn search_box() -> SearchBox {
        SearchBox::new(vec![-1.0, 0.0, 0.0], vec![1.0, 2.0, 10.0]).unwrap()
    }

    #[test]
    fn finds_the_optimum_of_a_known_score_within_its_budget() {
        let optimum = [0.3, 1.7, 2.5];
        let score = bowl(&optimum);
        let settings = CemSettings {
            population: 16,
            ..CemSettings::default()
        };
        // Started far away, at a corner of the box.
        let mut state =
            CemState::new(search_box(), Some(vec![-1.0, 0.0, 10.0]), settings, 7).unwrap();
        run::<()>(
            &mut state,
            16 * 20,
            |_, candidates| Ok(candidates.iter().map(|x| score(x)).collect()),
            |_| {},
        )
        .unwrap();
        assert_eq!(state.evaluated.len(), 16 * 20);
        let best = state.best().unwrap();
        let distance = best
            .parameters
            .iter()
            .zip(&optimum)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(
            distance < 0.05,
            "best {:?} is {distance} away",
            best.parameters
        );
        // The best score never gets worse from generation to generation's best so far.
        let curve = state.convergence();
        assert_eq!(curve.len(), 20);
        assert!(curve.last().unwrap().0 > curve[0].0);
    }

    #[test]
    fn a_resumed_search_is_the_uninterrupted_one() {
        let optimum = [-0.5, 0.5, 7.0];
        let score = bowl(&optimum);
        let settings = CemSettings::default();
        let evaluate = |_: usize, candidates: &[Vec<f64>]| -> Result<Vec<f64>, ()> {
            Ok(candidates.iter().map(|x| score(x)).collect())
        };
        let mut whole = CemState::new(search_box(), None, settings, 3).unwrap();
        run(&mut whole, 80, evaluate, |_| {}).unwrap();

        let mut first = CemState::new(search_box(), None, settings, 3).unwrap();
        run(&mut first, 40, evaluate, |_| {}).unwrap();
        // Stopped, saved as JSON, read back, continued.
        let saved = serde_json::to_string(&first).unwrap();
        let mut resumed: CemState = serde_json::from_str(&saved).unwrap();
        run(&mut resumed, 80, evaluate, |_| {}).unwrap();
        assert_eq!(resumed, whole);
    }

    #[test]
    fn candidates_stay_in_the_box_and_the_start_is_tried_first() {
        let mut state = CemState::new(
            search_box(),
            Some(vec![0.9, 1.9, 9.9]),
            CemSettings {
                initial_spread: 5.0,
                ..CemSettings::default()
            },
            1,
        )
        .unwrap();
        let candidates = state.propose();
        assert_eq!(candidates[0], vec![0.9, 1.9, 9.9]);
        for x in &candidates {
            for (i, v) in x.iter().enumerate() {
                assert!((state.search_box.low[i]..=state.search_box.high[i]).contains(v));
            }
        }
        assert!(SearchBox::new(vec![1.0], vec![0.0]).is_err());
        assert!(CemState::new(search_box(), Some(vec![0.0]), CemSettings::default(), 1).is_err());
    }

    #[test]
    fn shards_split_the_jobs_and_the_design_fills_the_box() {
        let shards: Vec<Shard> = (1..=3)
            .map(|i| Shard::parse(&format!("{i}/3")).unwrap())
            .collect();
        for job in 0..10 {
            assert_eq!(shards.iter().filter(|s| s.owns(job)).count(), 1);
        }
        assert!(shards[0].owns(0) && shards[1].owns(4) && shards[2].owns(8));
        for bad in ["0/3", "4/3", "1/0", "x/2", "2", "1/2/3"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Shard::parse(" 2 / 8").unwrap().to_string(), "2/8");
        let design = halton_design(&search_box(), 64);
        assert_eq!(design.len(), 64);
        for d in 0..3 {
            let values: Vec<f64> = design.iter().map(|x| x[d]).collect();
            let (low, high) = (search_box().low[d], search_box().high[d]);
            assert!(values.iter().all(|v| (low..=high).contains(v)));
            // Every quarter of every side holds points.
            for q in 0..4 {
                let (a, b) = (
                    low + (high - low) * q as f64 / 4.0,
                    low + (high - low) * (q + 1) as f64 / 4.0,
                );
                assert!(values.iter().filter(|v| (a..b).contains(*v)).count() >= 12);
            }
        }
    }
}
