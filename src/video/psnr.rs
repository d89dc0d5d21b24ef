//! PSNR between two clips.

use super::error::VideoError;
use super::frames::Frames;

fn shape(frames: &Frames) -> String {
    format!(
        "{}×{}×{}",
        frames.frame_count(),
        frames.width(),
        frames.height()
    )
}

/// Peak signal-to-noise ratio in dB over the whole clip: one mean squared error over all frames, pixels and
/// channels (torchmetrics' `PeakSignalNoiseRatio` default reduction, which DWM's evaluation uses), with a peak of
/// 255 (the same as data range 1.0 on values divided by 255). Identical clips give infinity.
pub fn psnr(a: &Frames, b: &Frames) -> Result<f64, VideoError> {
    if (a.frame_count(), a.width(), a.height()) != (b.frame_count(), b.width(), b.height()) {
        return Err(VideoError::ShapeMismatch {
            a: shape(a),
            b: shape(b),
        });
    }
    // At most 255² per value, so a u64 holds the sum for any clip that fits in memory.
    let squared_error: u64 = a
        .as_bytes()
        .iter()
        .zip(b.as_bytes())
        .map(|(&x, &y)| {
            let diff = u64::from(x.abs_diff(y));
            diff * diff
        })
        .sum();
    if squared_error == 0 {
        return Ok(f64::INFINITY);
    }
    let mse = squared_error as f64 / a.as_bytes().len() as f64;
    Ok(10.0 * (255.0f64 * 255.0 / mse).log10())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psnr_pools_the_error_over_all_frames() {
        let a = Frames::black(2, 2, 2, 8.0).unwrap();
        let mut data = vec![0u8; 24];
        data[0] = 255; // one value off by 255 among 24: MSE = 255²/24
        let b = Frames::new(2, 2, 8.0, data).unwrap();
        let expected = 10.0 * 24f64.log10();
        assert!((psnr(&a, &b).unwrap() - expected).abs() < 1e-12);
        assert_eq!(psnr(&a, &a).unwrap(), f64::INFINITY);
        let other = Frames::black(3, 2, 2, 8.0).unwrap();
        assert!(matches!(
            psnr(&a, &other),
            Err(VideoError::ShapeMismatch { .. })
        ));
    }
}
