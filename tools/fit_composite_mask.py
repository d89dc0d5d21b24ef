#!/usr/bin/env python3
"""Fit the residual composite's learned mask (src/world_model/composite/learned.rs).

Inputs come from handtwin itself, so the fit sees exactly what the Rust code computes:

    STUDY_CACHE=CACHE STUDY_INPUTS=INPUTS STUDY_GRID=floor \\
        cargo run --release --example composite_study -- DATA     # generations, reconstructions, inputs

    python tools/fit_composite_mask.py --data DATA --cache CACHE --inputs INPUTS --lambdas 0.5,1,2 --out DIR

For each λ it fits a small network σ(out · tanh(hidden · x + hidden_bias) + out_bias) — 16 hidden units, held over ±3 frames, feathered with a 3%-of-width box and cut
below `--cut` exactly as `learned::mask` does — by maximising

    mean over clips of PSNR(composite, truth) over the frame  +  λ · mean over clips of PSNR over the object region

(the object region as `handtwin eval` defines it: where the truth differs from the static video by more than 12
levels, minus the hand pixels grown by 3 px), with the blend composite `static + m·(generated − static)`. The
inputs are standardised for the fit and the standardisation folded into the written weights. Writes
DIR/mask_lambda_<λ>.json ({"hidden", "hidden_bias", "out", "out_bias", "cut", "lambda", ...}); score them on other seeds with
`STUDY_LEARNED=a.json,b.json composite_study DATA` and paste the chosen one into `LearnedMask::FITTED`.

Needs numpy, scipy and torch; runs on the CPU in minutes. Never run at build or test time.
"""
import argparse
import glob
import json
import os
import subprocess

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import maximum_filter

INPUTS = 14
HIDDEN = 16
HOLD = 3
FEATHER = 0.03


def read_video(path):
    """RGB frames as handtwin reads them (src/video/ffmpeg.rs)."""
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-noautorotate", "-i", path, "-map", "0:v:0", "-an", "-sn", "-dn",
         "-vf", "scale=in_color_matrix=auto:in_range=auto:flags=bicubic,format=rgb24", "-fps_mode", "passthrough",
         "-pix_fmt", "rgb24", "-f", "rawvideo", "pipe:1"],
        capture_output=True, check=True).stdout
    return out


def load(data, cache, inputs):
    meta = json.load(open(os.path.join(data, "synth.json")))
    w, h = meta["width"], meta["height"]
    clips = []
    for path in sorted(glob.glob(os.path.join(data, "videos", "*.mp4"))):
        stem = os.path.basename(path)[:-4]
        frames = lambda b: np.frombuffer(b, np.uint8).reshape(-1, h, w, 3)
        truth = frames(read_video(path))
        static = frames(read_video(os.path.join(data, "videos_static", stem + ".mp4")))
        hands = frames(read_video(os.path.join(data, "videos_hands", stem + ".mp4")))
        generated = frames(open(os.path.join(cache, stem + ".generated.raw"), "rb").read())
        x = np.fromfile(os.path.join(inputs, stem + ".inputs.f32"), "<f4").reshape(*truth.shape[:3], INPUTS)
        changed = (np.abs(truth.astype(np.int16) - static.astype(np.int16)) > 12).any(-1)
        near_hands = maximum_filter((hands > 8).any(-1), size=(1, 7, 7), mode="constant")
        t = lambda a: torch.tensor(a, dtype=torch.float32)
        clips.append(dict(x=t(x), s=t(static), g=t(generated), truth=t(truth),
                          obj=torch.tensor(changed & ~near_hands)))
    return clips


def mask(x, net, cut, feather_px):
    a = torch.sigmoid(net(x)[..., 0])  # F, H, W
    frames, height, width = a.shape
    if frames > 1:
        a = F.max_pool1d(a.permute(1, 2, 0).reshape(-1, 1, frames), 2 * HOLD + 1, 1, HOLD)
        a = a.reshape(height, width, frames).permute(2, 0, 1)
    if feather_px:
        a = F.avg_pool2d(a[:, None], 2 * feather_px + 1, 1, feather_px, count_include_pad=False)[:, 0]
    return torch.relu(a - cut) / (1 - cut)


def psnr(out, truth, region=None):
    d = ((out - truth) ** 2).mean(-1)
    return 10 * torch.log10(255.0 ** 2 / (d.mean() if region is None else d[region].mean()))


def scores(clips, net, cut):
    frame, obj = [], []
    with torch.no_grad():
        for c in clips:
            m = mask(c["x"], net, cut, round(FEATHER * c["x"].shape[2]))[..., None]
            out = (c["s"] + m * (c["g"] - c["s"])).round().clamp(0, 255)
            frame.append(psnr(out, c["truth"]).item())
            if c["obj"].any():
                obj.append(psnr(out, c["truth"], c["obj"]).item())
    return float(np.mean(frame)), float(np.mean(obj))


def fit(clips, lam, cut, iters, lr, seed):
    torch.manual_seed(seed)
    every = torch.cat([c["x"].reshape(-1, INPUTS) for c in clips])
    mu, sd = every.mean(0), every.std(0) + 1e-6
    net = torch.nn.Sequential(torch.nn.Linear(INPUTS, HIDDEN), torch.nn.Tanh(), torch.nn.Linear(HIDDEN, 1))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(iters):
        opt.zero_grad()
        loss = 0.0
        for c in clips:
            m = mask((c["x"] - mu) / sd, net, cut, round(FEATHER * c["x"].shape[2]))[..., None]
            out = c["s"] + m * (c["g"] - c["s"])
            term = -psnr(out, c["truth"])
            if c["obj"].any():
                term = term - lam * psnr(out, c["truth"], c["obj"])
            loss = loss + term / len(clips)
        loss.backward()
        opt.step()
    # Fold the standardisation into the first layer: the written network takes the raw inputs.
    with torch.no_grad():
        first = net[0]
        first.weight /= sd
        first.bias -= first.weight @ mu
    return net


def rust_literal(path):
    """The fitted file as the body of `LearnedMask::FITTED` (f32 literals that round-trip)."""
    r = json.load(open(path))
    f = lambda x: np.format_float_positional(np.float32(x), unique=True, trim="0")
    rows = "\n".join("        [" + ", ".join(f(v) for v in row) + "]," for row in r["hidden"])
    synth = json.load(open(os.path.join(r["fitted_on"], "synth.json")))
    return (f"// tools/fit_composite_mask.py: lambda {r['lambda']}, {r['clips']} clips of `handtwin synth --seed "
            f"{synth['seed']} --split {synth['split']}`, {r['iters']} iterations, torch seed {r.get('seed', 0)}\n"
            f"pub const FITTED: LearnedMask = LearnedMask {{\n    hidden: [\n{rows}\n    ],\n"
            f"    hidden_bias: [{', '.join(f(v) for v in r['hidden_bias'])}],\n"
            f"    out: [{', '.join(f(v) for v in r['out'])}],\n"
            f"    out_bias: {f(r['out_bias'])},\n    cut: {f(r['cut'])},\n}};")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rust", metavar="FILE", help="print a fitted file as Rust (LearnedMask::FITTED) and exit")
    p.add_argument("--data", help="a `handtwin synth` folder with ground truth")
    p.add_argument("--cache", help="composite_study's STUDY_CACHE for it")
    p.add_argument("--inputs", help="composite_study's STUDY_INPUTS for it")
    p.add_argument("--lambdas", default="0.5,1,2")
    p.add_argument("--cut", type=float, default=0.02)
    p.add_argument("--iters", type=int, default=200)
    p.add_argument("--lr", type=float, default=0.03)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out")
    a = p.parse_args()
    if a.rust:
        print(rust_literal(a.rust))
        return
    if not (a.data and a.cache and a.inputs and a.out):
        p.error("--data, --cache, --inputs and --out are needed to fit")
    torch.set_num_threads(os.cpu_count() or 1)
    clips = load(a.data, a.cache, a.inputs)
    os.makedirs(a.out, exist_ok=True)
    s = [psnr(c["s"], c["truth"]).item() for c in clips]
    g = [psnr(c["g"], c["truth"], c["obj"]).item() for c in clips if c["obj"].any()]
    print(f"{len(clips)} clips; static copied frame {np.mean(s):.3f}, raw output object {np.mean(g):.3f}", flush=True)
    for lam in [float(x) for x in a.lambdas.split(",")]:
        net = fit(clips, lam, a.cut, a.iters, a.lr, a.seed)
        frame, obj = scores(clips, net, a.cut)
        print(f"lambda {lam}: frame {frame:.3f}, object {obj:.3f} (on the fitting clips)", flush=True)
        record = dict(hidden=net[0].weight.tolist(), hidden_bias=net[0].bias.tolist(), out=net[2].weight[0].tolist(),
                      out_bias=float(net[2].bias[0].detach()), cut=a.cut, **{"lambda": lam},
                      fitted_on=os.path.abspath(a.data), clips=len(clips), iters=a.iters, lr=a.lr, seed=a.seed,
                      frame_psnr=frame, object_psnr=obj)
        with open(os.path.join(a.out, f"mask_lambda_{lam}.json"), "w") as f:
            json.dump(record, f, indent=1)


if __name__ == "__main__":
    main()
