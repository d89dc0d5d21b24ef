//! Round trips and error cases through the real `ffmpeg`/`ffprobe` programs (CI installs ffmpeg).

use std::path::Path;
use std::process::Command;

use super::*;

fn ffmpeg() -> Ffmpeg {
    Ffmpeg::from_env()
}

/// ffmpeg's `testsrc2` pattern (colour bars, gradients, moving shapes, text) as RGB frames: harsher than most
/// video, so the PSNR bounds below are conservative.
fn testsrc(width: u32, height: u32, frame_count: usize, fps: &str) -> Frames {
    let output = Command::new(ffmpeg().ffmpeg_program())
        .args(["-v", "error", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size={width}x{height}:rate={fps}"))
        .args(["-frames:v", &frame_count.to_string()])
        .args(["-pix_fmt", "rgb24", "-f", "rawvideo", "pipe:1"])
        .output()
        .expect("ffmpeg must be installed for the video tests");
    assert!(output.status.success(), "{:?}", output);
    let (num, den) = fps.split_once('/').unwrap_or((fps, "1"));
    let fps = num.parse::<f64>().unwrap() / den.parse::<f64>().unwrap();
    Frames::new(width, height, fps, output.stdout).unwrap()
}

/// Frames as `ffprobe -count_frames` decodes and counts them.
fn ffprobe_counted_frames(path: &Path) -> usize {
    let output = Command::new(ffmpeg().ffprobe_program())
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    assert!(output.status.success(), "{:?}", output);
    String::from_utf8(output.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn folder_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn round_trip(pixel_format: PixelFormat) -> (Frames, Frames, VideoInfo, usize) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    let original = testsrc(720, 480, 49, "8");
    let options = Mp4Options {
        pixel_format,
        ..Mp4Options::video()
    };
    write_video(&original, &path, &options).unwrap();
    // Only the finished file remains: the temporary was renamed into place.
    assert_eq!(folder_entries(dir.path()), ["clip.mp4"]);
    let info = ffmpeg().probe(&path).unwrap();
    let counted = ffprobe_counted_frames(&path);
    let back = read_video(&path).unwrap();
    (original, back, info, counted)
}

#[test]
fn mp4_yuv444p_round_trip_keeps_49_frames_size_rate_and_pixels() {
    let (original, back, info, counted) = round_trip(PixelFormat::Yuv444p);
    assert_eq!(counted, 49);
    assert_eq!(info.frame_count, Some(49));
    assert_eq!((info.width, info.height, info.fps), (720, 480, 8.0));
    assert_eq!(info.pix_fmt, "yuv444p");
    assert_eq!(info.profile.as_deref(), Some("High 4:4:4 Predictive"));
    assert_eq!(info.color_space.as_deref(), Some("smpte170m"));
    assert_eq!(info.color_range.as_deref(), Some("tv"));
    assert_eq!(
        (back.frame_count(), back.width(), back.height(), back.fps()),
        (49, 720, 480, 8.0)
    );
    let db = psnr(&original, &back).unwrap();
    println!("yuv444p crf {DEFAULT_CRF} testsrc2 720x480x49: PSNR {db:.2} dB");
    assert!(db >= 40.0, "PSNR {db} dB");
}

#[test]
fn mp4_yuv420p_round_trip_keeps_49_frames_size_and_rate() {
    let (original, back, info, counted) = round_trip(PixelFormat::Yuv420p);
    assert_eq!(counted, 49);
    assert_eq!(info.pix_fmt, "yuv420p");
    assert_eq!(info.profile.as_deref(), Some("High"));
    assert_eq!(
        (back.frame_count(), back.width(), back.height(), back.fps()),
        (49, 720, 480, 8.0)
    );
    let db = psnr(&original, &back).unwrap();
    println!("yuv420p crf {DEFAULT_CRF} testsrc2 720x480x49: PSNR {db:.2} dB");
    // Halved chroma costs a few dB on testsrc2's saturated colour edges.
    assert!(db >= 38.0, "PSNR {db} dB");
}

#[test]
fn colour_matrix_round_trips_flat_colours_closely() {
    // Flat patches of saturated and grey colours: a matrix or range mismatch between write and read would shift
    // them by several levels (BT.601 vs BT.709 differ by up to ~20 levels on pure red).
    let colours: [[u8; 3]; 8] = [
        [255, 0, 0],
        [0, 255, 0],
        [0, 0, 255],
        [127, 204, 127],
        [204, 102, 102],
        [0, 0, 0],
        [255, 255, 255],
        [128, 128, 128],
    ];
    let (width, height) = (64u32, 32u32);
    let mut data = Vec::new();
    for _frame in 0..3 {
        for _y in 0..height {
            for x in 0..width {
                data.extend_from_slice(&colours[(x / 8) as usize]);
            }
        }
    }
    let original = Frames::new(width, height, 8.0, data).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flat.mp4");
    let options = Mp4Options {
        crf: 0,
        ..Mp4Options::hand_video()
    };
    write_video(&original, &path, &options).unwrap();
    let back = read_video(&path).unwrap();
    for (index, colour) in colours.iter().enumerate() {
        // The centre of each 8-pixel stripe, away from edges.
        let got = back.pixel(1, index as u32 * 8 + 4, 16).unwrap();
        for channel in 0..3 {
            assert!(
                got[channel].abs_diff(colour[channel]) <= 2,
                "colour {colour:?} came back as {got:?}"
            );
        }
    }
}

#[test]
fn mp4_keeps_fractional_frame_rates_and_short_clips() {
    let dir = tempfile::tempdir().unwrap();
    for (fps, name) in [
        ("30000/1001", "ntsc.mp4"),
        ("25/2", "half.mov"),
        ("8", "m.mkv"),
    ] {
        let original = testsrc(64, 48, 5, fps);
        let path = dir.path().join(name);
        write_video(&original, &path, &Mp4Options::video()).unwrap();
        let back = read_video(&path).unwrap();
        assert_eq!(back.frame_count(), 5, "{name}");
        assert!(
            (back.fps() - original.fps()).abs() < 1e-9,
            "{name}: {} fps",
            back.fps()
        );
        assert_eq!(ffprobe_counted_frames(&path), 5, "{name}");
    }
    // A single frame must survive too (its packet needs a duration like every other).
    let one = testsrc(64, 48, 1, "8");
    let path = dir.path().join("one.mp4");
    write_video(&one, &path, &Mp4Options::video()).unwrap();
    assert_eq!(read_video(&path).unwrap().frame_count(), 1);
}

#[test]
fn variable_frame_rate_files_give_every_frame_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vfr.mkv");
    // Five frames 1/8 s apart, then five 1/2 s apart.
    let status = Command::new(ffmpeg().ffmpeg_program())
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=64x48:rate=8",
        ])
        .args(["-frames:v", "10", "-vf", "setpts='if(lt(N,5),N,N*4)/8/TB'"])
        .args(["-c:v", "libx264", "-fps_mode", "vfr"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    let frames = read_video(&path).unwrap();
    assert_eq!(frames.frame_count(), 10);
}

#[test]
fn odd_sizes_are_refused_for_yuv420p_and_written_for_yuv444p() {
    let dir = tempfile::tempdir().unwrap();
    let odd = varied_frames(3, 33, 17, 8.0);
    let path = dir.path().join("odd.mp4");
    let error = write_video(&odd, &path, &Mp4Options::video()).unwrap_err();
    assert!(matches!(error, VideoError::OddSize { .. }), "{error}");
    assert!(error.to_string().contains("33x17"), "{error}");
    assert!(folder_entries(dir.path()).is_empty());

    write_video(&odd, &path, &Mp4Options::hand_video()).unwrap();
    let back = read_video(&path).unwrap();
    assert_eq!(
        (back.width(), back.height(), back.frame_count()),
        (33, 17, 3)
    );
}

#[test]
fn a_failed_write_leaves_no_file_and_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kept.mp4");
    let clip = testsrc(64, 48, 4, "8");
    write_video(&clip, &path, &Mp4Options::video()).unwrap();
    let before = std::fs::read(&path).unwrap();

    // `false` runs and exits with status 1, like an ffmpeg that fails half way.
    let failing = Ffmpeg::new("false", "ffprobe");
    let error = write_video_with(&clip, &path, &Mp4Options::video(), &failing).unwrap_err();
    assert!(matches!(error, VideoError::Ffmpeg { .. }), "{error}");
    assert_eq!(folder_entries(dir.path()), ["kept.mp4"]);
    assert_eq!(std::fs::read(&path).unwrap(), before);

    let bad_crf = Mp4Options {
        crf: 60,
        ..Mp4Options::video()
    };
    let error = write_video(&clip, &path, &bad_crf).unwrap_err();
    assert!(matches!(error, VideoError::BadOption { .. }), "{error}");
}

#[test]
fn missing_and_unknown_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing.mp4");
    let error = read_video(&missing).unwrap_err();
    assert!(matches!(error, VideoError::NotFound { .. }), "{error}");
    assert!(error.to_string().contains("nothing.mp4"), "{error}");

    let odd = dir.path().join("clip.xyz");
    std::fs::write(&odd, b"data").unwrap();
    let error = read_video(&odd).unwrap_err();
    assert!(matches!(error, VideoError::UnknownFormat { .. }), "{error}");
    assert!(error.to_string().contains("`.xyz`"), "{error}");
    let error = write_video(
        &Frames::black(1, 4, 4, 8.0).unwrap(),
        &odd,
        &Mp4Options::video(),
    )
    .unwrap_err();
    assert!(error.to_string().contains("`.xyz`"), "{error}");

    let fake_gif = dir.path().join("fake.gif");
    std::fs::write(&fake_gif, b"GIF? no").unwrap();
    let error = read_video(&fake_gif).unwrap_err();
    assert!(matches!(error, VideoError::Image { .. }), "{error}");
    assert!(error.to_string().contains("fake.gif"), "{error}");
}

#[test]
fn a_text_file_named_mp4_reports_what_ffmpeg_said() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.mp4");
    std::fs::write(&path, "this is not a video\n").unwrap();
    let error = read_video(&path).unwrap_err();
    assert!(matches!(error, VideoError::Ffmpeg { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains("notes.mp4"), "{message}");
    assert!(message.contains("Invalid data"), "{message}");
}

#[test]
fn a_truncated_mp4_is_an_error_not_a_shorter_clip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.mp4");
    write_video(&testsrc(160, 120, 20, "8"), &path, &Mp4Options::video()).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    // Half the file loses frames; the last byte only damages the last frame, which ffmpeg still outputs.
    for keep in [bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&path, &bytes[..keep]).unwrap();
        let error = read_video(&path).unwrap_err();
        let message = error.to_string();
        println!("truncated to {keep} of {} bytes: {message}", bytes.len());
        assert!(message.contains("cut.mp4"), "{message}");
        assert!(
            matches!(
                error,
                VideoError::FrameCountMismatch { .. }
                    | VideoError::PartialFrame { .. }
                    | VideoError::Ffmpeg { .. }
            ),
            "{message}"
        );
    }

    // An mp4 from elsewhere with its index (moov) at the end, cut short: ffprobe cannot open it at all.
    let plain = dir.path().join("plain.mp4");
    let status = Command::new(ffmpeg().ffmpeg_program())
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=64x48:rate=8",
        ])
        .args(["-frames:v", "8", "-c:v", "libx264", "-pix_fmt", "yuv420p"])
        .arg(&plain)
        .status()
        .unwrap();
    assert!(status.success());
    let bytes = std::fs::read(&plain).unwrap();
    std::fs::write(&plain, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let error = read_video(&plain).unwrap_err();
    assert!(matches!(error, VideoError::Ffmpeg { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("plain.mp4") && message.contains("moov atom not found"),
        "{message}"
    );
}

#[test]
fn missing_ffmpeg_says_how_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    let absent = Ffmpeg::new(
        "/nonexistent/handtwin-ffmpeg",
        "/nonexistent/handtwin-ffprobe",
    );
    let path = dir.path().join("clip.mp4");
    std::fs::write(&path, b"anything").unwrap();
    let error = read_video_with(&path, &absent).unwrap_err();
    assert!(
        matches!(error, VideoError::ProgramNotFound { .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(message.contains("apt install ffmpeg"), "{message}");
    assert!(message.contains("brew install ffmpeg"), "{message}");
    assert!(message.contains(FFPROBE_ENV), "{message}");

    let out = dir.path().join("out.mp4");
    let error = write_video_with(
        &Frames::black(2, 8, 8, 8.0).unwrap(),
        &out,
        &Mp4Options::video(),
        &absent,
    )
    .unwrap_err();
    assert!(error.to_string().contains(FFMPEG_ENV), "{error}");
    assert!(!out.exists());
    assert!(absent.version().is_err());

    // PNG folders and GIF still work.
    let frames = Frames::black(2, 8, 8, 8.0).unwrap();
    let folder = dir.path().join("frames");
    write_video_with(&frames, &folder, &Mp4Options::video(), &absent).unwrap();
    assert_eq!(read_video_with(&folder, &absent).unwrap(), frames);
}

/// A small clip with every byte value in play, so a PNG round trip that changed anything would show.
fn varied_frames(frame_count: usize, width: u32, height: u32, fps: f64) -> Frames {
    let len = frame_count * width as usize * height as usize * 3;
    let data = (0..len)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
        .collect();
    Frames::new(width, height, fps, data).unwrap()
}

#[test]
fn png_folders_round_trip_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("clip");
    let original = varied_frames(12, 21, 13, 12.5);
    write_png_folder(&original, &folder).unwrap();
    assert_eq!(folder_entries(&folder).len(), 13); // 12 frames + fps.txt
    assert!(folder.join("frame_00000.png").is_file());
    assert!(folder.join("frame_00011.png").is_file());
    assert_eq!(read_video(&folder).unwrap(), original);
    assert_eq!(folder_entries(dir.path()), ["clip"]);

    // Writing again replaces our own folder, shorter clips included.
    let shorter = varied_frames(3, 21, 13, 8.0);
    write_png_folder(&shorter, &folder).unwrap();
    assert_eq!(read_png_folder(&folder).unwrap(), shorter);
    assert_eq!(folder_entries(dir.path()), ["clip"]);

    // A folder without fps.txt (e.g. from `ffmpeg -i x.mp4 %04d.png`, numbered from 1) reads at 8 fps.
    std::fs::remove_file(folder.join(FPS_FILE)).unwrap();
    for index in 0..3 {
        std::fs::rename(
            folder.join(png_frame_name(index)),
            folder.join(format!("{:04}.png", index + 1)),
        )
        .unwrap();
    }
    let renamed = read_png_folder(&folder).unwrap();
    assert_eq!(renamed.as_bytes(), shorter.as_bytes());
    assert_eq!(renamed.fps(), DEFAULT_PNG_FOLDER_FPS);
}

#[test]
fn png_folder_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("frames");
    write_png_folder(&varied_frames(3, 8, 6, 8.0), &folder).unwrap();

    // A frame of another size.
    image::RgbImage::new(9, 6)
        .save(folder.join(png_frame_name(1)))
        .unwrap();
    let error = read_video(&folder).unwrap_err();
    assert!(matches!(error, VideoError::SizeMismatch { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("frame_00001.png") && message.contains("9x6"),
        "{message}"
    );

    // A gap in the numbering.
    std::fs::remove_file(folder.join(png_frame_name(1))).unwrap();
    let error = read_video(&folder).unwrap_err();
    assert!(
        matches!(error, VideoError::FrameNumbering { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("missing"), "{error}");

    // No frames at all.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert!(matches!(
        read_video(&empty),
        Err(VideoError::EmptyFolder { .. })
    ));

    // A folder with other content is never replaced.
    std::fs::write(empty.join("notes.txt"), "mine").unwrap();
    let error = write_png_folder(&varied_frames(1, 4, 4, 8.0), &empty).unwrap_err();
    assert!(
        matches!(error, VideoError::WouldOverwrite { .. }),
        "{error}"
    );
    assert_eq!(folder_entries(&empty), ["notes.txt"]);
}

#[test]
fn gif_round_trip_keeps_count_and_size_within_its_palette() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.gif");
    let original = testsrc(320, 240, 6, "10");
    write_video(&original, &path, &Mp4Options::video()).unwrap();
    let back = read_video(&path).unwrap();
    assert_eq!(
        (back.frame_count(), back.width(), back.height()),
        (6, 320, 240)
    );
    // 10 fps is exactly 10 centiseconds per frame.
    assert!((back.fps() - 10.0).abs() < 1e-9, "{} fps", back.fps());
    let db = psnr(&original, &back).unwrap();
    println!("GIF testsrc2 320x240x6: PSNR {db:.2} dB");
    assert!(db >= 25.0, "PSNR {db} dB");

    // A clip with few colours fits the palette exactly.
    let mut data = Vec::new();
    for frame in 0..4u8 {
        for y in 0..16u32 {
            for x in 0..16u32 {
                let on = (x / 4 + y / 4 + u32::from(frame)) % 2 == 0;
                data.extend_from_slice(if on { &[200, 30, 60] } else { &[0, 0, 0] });
            }
        }
    }
    let checker = Frames::new(16, 16, 4.0, data).unwrap();
    write_gif(&checker, &path).unwrap();
    let back = read_gif(&path).unwrap();
    assert_eq!(back.frame_count(), 4);
    assert!(psnr(&checker, &back).unwrap() >= 40.0);
}

#[test]
fn dwm_sample_folders_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let static_video = testsrc(64, 48, 9, "8");
    let mut hand_pixels = vec![0u8; static_video.as_bytes().len()];
    for (i, pixel) in hand_pixels.chunks_exact_mut(3).enumerate() {
        if (i % 64) > 20 && (i % 64) < 40 {
            pixel.copy_from_slice(&[127, 204, 127]);
        }
    }
    let hand_video = Frames::new(64, 48, 8.0, hand_pixels).unwrap();
    let sample = DwmSample {
        stem: "00042".into(),
        static_video: static_video.clone(),
        hand_video: hand_video.clone(),
        ground_truth: Some(testsrc(64, 48, 9, "8")),
        prompt: Some("open the drawer".into()),
    };
    let paths = sample
        .write(root, &SampleWriteOptions::default(), &ffmpeg())
        .unwrap();
    assert_eq!(paths.hand_video, root.join("videos_hands/00042.mp4"));
    assert_eq!(
        ffmpeg().probe(&paths.static_video).unwrap().pix_fmt,
        "yuv420p"
    );
    assert_eq!(
        ffmpeg().probe(&paths.ground_truth).unwrap().pix_fmt,
        "yuv420p"
    );
    assert_eq!(
        ffmpeg().probe(&paths.hand_video).unwrap().pix_fmt,
        "yuv444p"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("prompts_rewrite/00042.txt")).unwrap(),
        "open the drawer\n"
    );
    assert!(!root.join(PROMPTS_DIR).exists());

    // A second sample without ground truth; its prompt lives in prompts/ only.
    let bare = DwmSample {
        stem: "00007".into(),
        ground_truth: None,
        prompt: None,
        ..sample.clone()
    };
    bare.write(root, &SampleWriteOptions::default(), &ffmpeg())
        .unwrap();
    std::fs::create_dir(root.join(PROMPTS_DIR)).unwrap();
    std::fs::write(root.join("prompts/00007.txt"), "  push the cup \n").unwrap();
    // A lone static video is not a sample.
    std::fs::copy(&paths.static_video, root.join("videos_static/00099.mp4")).unwrap();

    assert_eq!(list_stems(root).unwrap(), ["00007", "00042"]);
    let back = DwmSample::read(root, "00042", &ffmpeg()).unwrap();
    assert_eq!(back.stem, "00042");
    assert_eq!(back.prompt.as_deref(), Some("open the drawer"));
    let static_db = psnr(&back.static_video, &static_video).unwrap();
    let hand_db = psnr(&back.hand_video, &hand_video).unwrap();
    println!(
        "sample round trip: static (yuv420p, testsrc2 64x48) {static_db:.2} dB, hands (yuv444p) {hand_db:.2} dB"
    );
    assert!(static_db >= 30.0 && hand_db >= 40.0);
    assert_eq!(back.ground_truth.as_ref().map(Frames::frame_count), Some(9));
    let bare_back = DwmSample::read(root, "00007", &ffmpeg()).unwrap();
    assert_eq!(bare_back.ground_truth, None);
    assert_eq!(bare_back.prompt.as_deref(), Some("push the cup"));
    assert_eq!(bare_back.hand_video.frame_count(), 9);
}

#[test]
fn dwm_samples_refuse_bad_stems_and_mismatched_streams() {
    let dir = tempfile::tempdir().unwrap();
    for stem in ["", "../up", "a/b", "a\\b", ".hidden", " padded"] {
        assert!(
            matches!(validate_stem(stem), Err(VideoError::BadStem { .. })),
            "{stem:?}"
        );
        assert!(DwmSample::read(dir.path(), stem, &ffmpeg()).is_err());
    }
    validate_stem("00013").unwrap();

    let sample = DwmSample {
        stem: "s".into(),
        static_video: Frames::black(9, 16, 16, 8.0).unwrap(),
        hand_video: Frames::black(8, 16, 16, 8.0).unwrap(),
        ground_truth: None,
        prompt: None,
    };
    let error = sample
        .write(dir.path(), &SampleWriteOptions::default(), &ffmpeg())
        .unwrap_err();
    assert!(matches!(error, VideoError::Sample { .. }), "{error}");
    assert!(error.to_string().contains("videos_hands"), "{error}");
    assert!(folder_entries(dir.path()).is_empty());

    let error = DwmSample::read(dir.path(), "absent", &ffmpeg()).unwrap_err();
    assert!(matches!(error, VideoError::NotFound { .. }), "{error}");
    assert!(error.to_string().contains("absent.mp4"), "{error}");
}
