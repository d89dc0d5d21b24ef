"""Reference side of examples/bench_lpips.rs: the `lpips` package (v0.1, with the converted backbones from
models/lpips) on the same 720x480 frames, timed on this CPU in float32, and compared with what the Rust port
produced. Its own values go to DIR/torch.json, which the Rust side compares with when it runs later.

    cargo run --example bench_lpips          # writes /tmp/handtwin-bench-lpips/ours.json
    /work/venv-lpips/bin/python tools/bench_lpips_torch.py [/tmp/handtwin-bench-lpips] [--frames N]

Frames go through in the batches the Rust side uses (8 frame pairs for AlexNet, 2 for VGG16 at 720x480).
"""

import json
import sys
import time
from pathlib import Path

import lpips
import numpy as np
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parent.parent
WIDTH, HEIGHT = 720, 480
BATCH = {"alex": 8, "vgg": 2}


def test_clip(frames, warp):
    t = np.arange(frames, dtype=np.float64).reshape(frames, 1, 1, 1)
    y = np.arange(HEIGHT, dtype=np.float64).reshape(1, HEIGHT, 1, 1)
    x = np.arange(WIDTH, dtype=np.float64).reshape(1, 1, WIDTH, 1)
    c = np.arange(3, dtype=np.float64).reshape(1, 1, 1, 3)
    phase = 0.05 * (y + 2.0 * x) + 0.3 * t + c + warp * np.sin(0.02 * x)
    return np.floor(127.5 + 127.0 * np.sin(phase)).astype(np.uint8)


def to_input(frames):
    """uint8 F x H x W x 3 -> F x 3 x H x W in [-1, 1] (lpips.im2tensor's mapping)."""
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def model(net):
    m = lpips.LPIPS(pretrained=True, net=net, pnet_rand=True, verbose=False).eval()
    converted = load_file(ROOT / "models" / "lpips" / f"{net}.safetensors")
    m.load_state_dict({n: t for n, t in converted.items() if n.startswith("net.")}, strict=False)
    return m


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    directory = Path(args[0] if args else "/tmp/handtwin-bench-lpips")
    frames = int(sys.argv[sys.argv.index("--frames") + 1]) if "--frames" in sys.argv else 49
    torch.set_num_threads(2)
    print(f"threads: {torch.get_num_threads()}, torch {torch.__version__}")
    a, b = test_clip(frames, 0.0), test_clip(frames, 0.4)
    ours_path = directory / "ours.json"
    ours = json.loads(ours_path.read_text()) if ours_path.exists() else {}
    reference = {}
    for net in ("alex", "vgg"):
        if not (ROOT / "models" / "lpips" / f"{net}.safetensors").exists():
            print(f"-- {net}: skipped (no models/lpips/{net}.safetensors)")
            continue
        m = model(net)
        print(f"-- LPIPS {net} --")
        with torch.no_grad():
            a1, b1 = to_input(a[:1]), to_input(b[:1])
            m(a1, b1)  # warm-up
            best = float("inf")
            for _ in range(3):
                start = time.perf_counter()
                value = m(a1, b1).item()
                best = min(best, time.perf_counter() - start)
            print(f"one {WIDTH}x{HEIGHT} frame pair: {best:.3f} s (best of 3), LPIPS {value:.6f}")
            start = time.perf_counter()
            values = []
            for s in range(0, frames, BATCH[net]):
                values += m(to_input(a[s : s + BATCH[net]]), to_input(b[s : s + BATCH[net]])).flatten().tolist()
            seconds = time.perf_counter() - start
        print(
            f"{WIDTH}x{HEIGHT}x{frames} clip pair: {seconds:.2f} s ({seconds / frames:.3f} s/frame), "
            f"mean LPIPS {np.mean(values):.6f}"
        )
        reference[net] = values
        if net in ours and len(ours[net]) == len(values):
            diff = np.max(np.abs(np.array(ours[net]) - np.array(values)))
            print(f"max |ours - lpips| over the {frames} frames: {diff:.2e}")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "torch.json").write_text(json.dumps(reference))


if __name__ == "__main__":
    main()
