#!/usr/bin/env python3
"""Reference values for handtwin's perceptual metrics (src/eval/lpips.rs, src/eval/metrics.rs), written to
tests/fixtures/metrics/: image pairs as PNG and `expected.json`.

    python3 -m venv /work/venv-lpips
    /work/venv-lpips/bin/pip install torch lpips scikit-image torchmetrics safetensors numpy
    python3 tools/convert_lpips.py --net alex --net vgg            # models/lpips/{alex,vgg}.safetensors
    /work/venv-lpips/bin/python tools/make_lpips_fixtures.py

Nothing is downloaded here. LPIPS is the reference `lpips` package (v0.1): its backbone is built without
pretrained weights (`pnet_rand=True`, so torchvision fetches nothing) and then given the converted backbone from
models/lpips; its linear layers are the package's own `weights/v0.1/*.pth` (the script checks that the converted
files hold exactly those). SSIM is scikit-image's `structural_similarity` (uint8, channel_axis=2, data_range=255,
defaults otherwise) and torchmetrics' `StructuralSimilarityIndexMeasure(data_range=1.0)` on [0, 1] floats; for
torchmetrics the map is also averaged over its interior (5 pixels cropped from each border), which is what
torchmetrics before 1.6 returned.
"""

import json
import sys
from pathlib import Path

import lpips
import numpy as np
import skimage
import torch
import torchmetrics
from PIL import Image
from safetensors.torch import load_file
from skimage.metrics import structural_similarity
from torchmetrics.functional.image.ssim import _ssim_update

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "metrics"
SIZES = [(64, 64), (96, 64), (123, 77)]  # width, height
# Pixels (x, y) at which the spatial LPIPS map is recorded, as fractions of the size.
SPATIAL_PROBES = [(0.0, 0.0), (0.5, 0.5), (0.9, 0.2), (0.25, 0.75), (1.0, 1.0)]


def scene(width, height, rng):
    """A small synthetic photo: gradients, a few discs and rectangles, a fine texture."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    image = np.stack(
        [
            90 + 80 * np.sin(x / width * 3.1 + 0.4) + 30 * (y / height),
            110 + 60 * np.cos(y / height * 2.3) + 20 * (x / width),
            70 + 50 * np.sin((x + y) / (width + height) * 5.0),
        ],
        axis=-1,
    )
    for _ in range(5):
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(4, 0.3 * min(width, height))
        colour = rng.uniform(0, 255, 3)
        inside = (x - cx) ** 2 + (y - cy) ** 2 < r * r
        image[inside] = 0.3 * image[inside] + 0.7 * colour
    for _ in range(3):
        x0, y0 = rng.integers(0, width - 8), rng.integers(0, height - 8)
        w, h = rng.integers(4, width // 3), rng.integers(4, height // 3)
        image[y0 : y0 + h, x0 : x0 + w] = rng.uniform(0, 255, 3)
    image += (12 * np.sin(x * 1.7) * np.cos(y * 1.3))[..., None] + rng.normal(0, 4, image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def distort(image, kind, rng):
    """The second image of a pair: noise plus a blur, or a shift with a colour change."""
    a = image.astype(np.float64)
    if kind == "noise_blur":
        blurred = a.copy()
        blurred[1:-1, 1:-1] = sum(a[1 + dy : a.shape[0] - 1 + dy, 1 + dx : a.shape[1] - 1 + dx]
                                  for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9
        b = blurred + rng.normal(0, 10, a.shape)
    else:
        b = np.roll(a, shift=(2, 3), axis=(0, 1)) * np.array([1.08, 0.95, 1.0]) + 6
    return np.clip(np.rint(b), 0, 255).astype(np.uint8)


def reference_lpips(net):
    model = lpips.LPIPS(pretrained=True, net=net, pnet_rand=True, verbose=False).eval()
    converted = load_file(ROOT / "models" / "lpips" / f"{net}.safetensors")
    state = model.state_dict()
    for name, tensor in converted.items():
        if name.startswith("lin"):
            # Our lin{L}.model.1.weight is the package's lins.{L}.model.1.weight.
            package = state[name.replace("lin", "lins.", 1)]
            if not torch.equal(package, tensor):
                sys.exit(f"{net}: {name} differs from the lpips package's v0.1 weights")
    missing = [n for n in state if n.startswith("net.") and n not in converted]
    if missing:
        sys.exit(f"{net}: converted file lacks {missing}")
    model.load_state_dict({**state, **{n: t for n, t in converted.items() if n.startswith("net.")}})
    return model


def to_lpips_input(image):
    return lpips.im2tensor(image)  # [-1, 1], (1, 3, H, W), as lpips' own scripts do


def torchmetrics_ssim(a, b):
    to01 = lambda image: torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0  # noqa: E731
    metric = torchmetrics.image.StructuralSimilarityIndexMeasure(data_range=1.0)
    value = metric(to01(a), to01(b)).item()
    _, full = _ssim_update(to01(a), to01(b), data_range=1.0, return_full_image=True)
    cropped = full[..., 5:-5, 5:-5].mean().item()
    return value, cropped


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20260)
    torch.set_num_threads(2)
    nets = {net: reference_lpips(net) for net in ("alex", "vgg")}
    pairs = []
    for width, height in SIZES:
        for kind in ("noise_blur", "shift_colour"):
            a = scene(width, height, rng)
            b = distort(a, kind, rng)
            name = f"{width}x{height}_{kind}"
            Image.fromarray(a).save(OUT / f"{name}_a.png")
            Image.fromarray(b).save(OUT / f"{name}_b.png")
            entry = {"name": name, "a": f"{name}_a.png", "b": f"{name}_b.png", "width": width, "height": height}
            with torch.no_grad():
                for net, model in nets.items():
                    entry[f"lpips_{net}"] = model(to_lpips_input(a), to_lpips_input(b)).item()
                    model.spatial = True
                    spatial = model(to_lpips_input(a), to_lpips_input(b))[0, 0].numpy()
                    model.spatial = False
                    entry[f"lpips_{net}_spatial_mean"] = float(spatial.mean(dtype=np.float64))
                    entry[f"lpips_{net}_spatial_probes"] = [
                        [x, y, float(spatial[y, x])]
                        for x, y in (
                            (min(int(fx * width), width - 1), min(int(fy * height), height - 1))
                            for fx, fy in SPATIAL_PROBES
                        )
                    ]
            entry["ssim_skimage"] = float(structural_similarity(a, b, channel_axis=2, data_range=255))
            _, full = structural_similarity(a, b, channel_axis=2, data_range=255, full=True)
            entry["ssim_skimage_full_map_mean"] = float(full.mean(dtype=np.float64))
            entry["ssim_torchmetrics"], entry["ssim_torchmetrics_cropped"] = torchmetrics_ssim(a, b)
            mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
            entry["psnr"] = float(10 * np.log10(255.0**2 / mse))
            pairs.append(entry)
            print(name, {k: round(v, 5) for k, v in entry.items() if isinstance(v, float)})
    versions = {
        "lpips": getattr(lpips, "__version__", "0.1.4"),
        "torch": torch.__version__,
        "torchmetrics": torchmetrics.__version__,
        "scikit-image": skimage.__version__,
        "numpy": np.__version__,
    }
    expected = {"made_by": "tools/make_lpips_fixtures.py", "versions": versions, "pairs": pairs}
    (OUT / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    print(f"wrote {OUT / 'expected.json'}")


if __name__ == "__main__":
    main()
