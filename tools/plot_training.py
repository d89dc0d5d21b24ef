"""Plots the loss curves of a `handtwin train` run (RUN/logs/{vae,decoder,inpaint,dwm}.csv) into one PNG.

    python tools/plot_training.py RUN_DIR docs/tiny_dwm_training.png [--mark STAGE:STEP:LABEL ...]

`--mark` draws a dashed vertical line at STEP of STAGE with LABEL (for example where a setting changed).

Needs matplotlib (pip install matplotlib). Raw per-step losses are drawn faintly, a 50-step moving average on top.
"""
import csv
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STAGES = [
    ("vae", "VAE: L1 + MSE + 1e-4·KL"),
    ("decoder", "Decoder fine-tune (encoder frozen): L1 + MSE"),
    ("inpaint", "Inpainting pre-training: v-MSE"),
    ("dwm", "DWM fine-tune: v-MSE"),
]


def read(path):
    steps, losses = [], []
    with open(path) as f:
        for row in csv.DictReader(f):
            steps.append(int(row["step"]))
            losses.append(float(row["loss"]))
    return steps, losses


def moving_average(values, window=50):
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def main():
    run, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    marks = {}
    rest = sys.argv[3:]
    while rest:
        if rest[0] != "--mark" or len(rest) < 2:
            sys.exit(f"unexpected argument {rest[0]!r}; use --mark STAGE:STEP:LABEL")
        stage, step, label = rest[1].split(":", 2)
        marks.setdefault(stage, []).append((int(step), label))
        rest = rest[2:]
    present = [(name, title) for name, title in STAGES if (run / "logs" / f"{name}.csv").is_file()]
    fig, axes = plt.subplots(1, len(present), figsize=(5 * len(present), 3.6), squeeze=False)
    for ax, (name, title) in zip(axes[0], present):
        steps, losses = read(run / "logs" / f"{name}.csv")
        ax.plot(steps, losses, color="tab:blue", alpha=0.25, linewidth=0.6, label="per step")
        ax.plot(steps, moving_average(losses), color="tab:blue", linewidth=1.6, label="50-step mean")
        ax.set_yscale("log")
        for step, label in marks.get(name, []):
            ax.axvline(step, color="tab:red", linestyle="--", linewidth=1.0, label=label)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.suptitle(f"handtwin tiny DWM training ({run.name})", fontsize=11)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
