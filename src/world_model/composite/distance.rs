//! Exact Euclidean distance transform (Felzenszwalb & Huttenlocher, "Distance Transforms of Sampled Functions",
//! 2012): the squared distance along rows, then along columns, each as the lower envelope of parabolas — O(n) per
//! line, exact, where a max filter would give only a square neighbourhood.

/// Large enough to stand for "no feature on this line" without overflowing when parabolas are intersected.
const FAR: f64 = 1e20;

/// Squared distance along one line of `len` samples (`f` holds 0 at features and FAR elsewhere, or the squared
/// distances of the previous pass), written back into `f`.
fn line(f: &mut [f64], v: &mut [usize], z: &mut [f64], out: &mut [f64]) {
    let len = f.len();
    if len == 0 {
        return;
    }
    let mut k = 0usize;
    v[0] = 0;
    z[0] = f64::NEG_INFINITY;
    z[1] = f64::INFINITY;
    for q in 1..len {
        let intersect = |p: usize| {
            let (qf, pf) = (q as f64, p as f64);
            ((f[q] + qf * qf) - (f[p] + pf * pf)) / (2.0 * (qf - pf))
        };
        let mut s = intersect(v[k]);
        // z[0] is −∞, so the envelope never empties.
        while s <= z[k] {
            k -= 1;
            s = intersect(v[k]);
        }
        k += 1;
        v[k] = q;
        z[k] = s;
        z[k + 1] = f64::INFINITY;
    }
    k = 0;
    for (q, slot) in out.iter_mut().enumerate() {
        while z[k + 1] < q as f64 {
            k += 1;
        }
        let d = q as f64 - v[k] as f64;
        *slot = d * d + f[v[k]];
    }
    f.copy_from_slice(out);
}

/// The Euclidean distance in pixels from every pixel of a `width`×`height` plane to the nearest `true` pixel, or
/// `None` where the plane has none.
pub fn distance_to(mask: &[bool], width: usize, height: usize) -> Option<Vec<f32>> {
    if !mask.iter().any(|&m| m) {
        return None;
    }
    let mut grid: Vec<f64> = mask.iter().map(|&m| if m { 0.0 } else { FAR }).collect();
    let longest = width.max(height);
    let (mut v, mut z) = (vec![0usize; longest], vec![0f64; longest + 1]);
    let (mut buffer, mut out) = (vec![0f64; longest], vec![0f64; longest]);
    for y in 0..height {
        line(
            &mut grid[y * width..(y + 1) * width],
            &mut v,
            &mut z,
            &mut out[..width],
        );
    }
    for x in 0..width {
        for y in 0..height {
            buffer[y] = grid[y * width + x];
        }
        line(&mut buffer[..height], &mut v, &mut z, &mut out[..height]);
        for y in 0..height {
            grid[y * width + x] = buffer[y];
        }
    }
    Some(grid.into_iter().map(|d| d.sqrt() as f32).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_brute_force() {
        let (w, h) = (23usize, 17usize);
        let mut state = 7u64;
        for density in [1u64, 5, 30] {
            let mask: Vec<bool> = (0..w * h)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (state >> 33) % 100 < density
                })
                .collect();
            let got = distance_to(&mask, w, h).unwrap();
            for y in 0..h {
                for x in 0..w {
                    let best = (0..w * h)
                        .filter(|&i| mask[i])
                        .map(|i| {
                            let (dx, dy) = (x as f64 - (i % w) as f64, y as f64 - (i / w) as f64);
                            (dx * dx + dy * dy).sqrt()
                        })
                        .fold(f64::INFINITY, f64::min);
                    assert!(
                        (f64::from(got[y * w + x]) - best).abs() < 1e-5,
                        "{x},{y}: {} vs {best}",
                        got[y * w + x]
                    );
                }
            }
        }
        assert!(distance_to(&vec![false; w * h], w, h).is_none());
        let one = distance_to(&[true], 1, 1).unwrap();
        assert_eq!(one, vec![0.0]);
    }
}
