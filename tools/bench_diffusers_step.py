"""diffusers' side of tools/gpu-check.sh: one denoising step of the CogVideoX transformer with classifier-free
guidance (a batch of 2), at DWM's shapes, random weights, timed as `handtwin bench` times ours.

    python tools/bench_diffusers_step.py --device cuda --dtype bf16 --json out.json
    python tools/bench_diffusers_step.py --device cpu --dtype f32 --small --json out.json   # the CPU path

Default shapes: CogVideoX-5B (42 layers, 48 heads × 64, 49 input channels: DWM's widened patch embedding), 226
text tokens, 720×480×49 → 13 latent frames of 60×90. `--small` keeps the widths and cuts to 2 layers and 9 frames
of 96×64 (a check that the script runs, not a figure). Prints and writes: seconds per step (mean of `--runs`
after one warm-up), steps per second, and the peak memory PyTorch allocated. Exits 3 when diffusers or torch is
missing, so the caller can record that instead of a figure.
"""

import argparse
import json
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="bf16", choices=["bf16", "f16", "f32"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--sdpa", default="default", choices=["default", "math"],
                        help="math: PyTorch's unfused attention (no flash kernel), for a like-for-like ratio")
    parser.add_argument("--json", required=True)
    args = parser.parse_args()
    try:
        import torch
        from diffusers import CogVideoXTransformer3DModel
        from diffusers.models.embeddings import get_3d_rotary_pos_embed
    except ImportError as error:
        print(f"bench_diffusers_step: {error}", file=sys.stderr)
        return 3

    layers, frames, height, width = (2, 3, 8, 12) if args.small else (42, 13, 60, 90)
    config = dict(num_attention_heads=48, attention_head_dim=64, in_channels=49, out_channels=16,
                  time_embed_dim=512, text_embed_dim=4096, num_layers=layers, sample_height=60, sample_width=90,
                  max_text_seq_length=226, use_rotary_positional_embeddings=True)
    dtype = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}[args.dtype]
    device = torch.device(args.device)
    torch.manual_seed(0)
    with torch.device(device):
        model = CogVideoXTransformer3DModel(**config).to(dtype).eval()
    hidden = torch.randn(2, frames, 49, height, width, device=device, dtype=dtype)
    text = torch.randn(2, 226, 4096, device=device, dtype=dtype)
    timestep = torch.tensor([999, 999], device=device)
    # As CogVideoXPipeline prepares them for CogVideoX 1.0 (5B); at the 720×480 base size the crop region is the
    # whole grid (the pipeline module itself is not imported: it needs transformers).
    grid = (height // 2, width // 2)
    crops = ((0, 0), grid)
    cos, sin = get_3d_rotary_pos_embed(embed_dim=64, crops_coords=crops, grid_size=grid, temporal_size=frames)
    rope = (cos.to(device), sin.to(device))

    def step():
        with torch.no_grad():
            out = model(hidden_states=hidden, encoder_hidden_states=text, timestep=timestep,
                        image_rotary_emb=rope, return_dict=False)[0]
        if device.type == "cuda":
            torch.cuda.synchronize()
        return out

    context = torch.nn.attention.sdpa_kernel([torch.nn.attention.SDPBackend.MATH]) \
        if args.sdpa == "math" else torch.autograd.grad_mode.no_grad()
    with context:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        step()
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
    seconds = sum(times) / len(times)
    result = {
        "library": "diffusers",
        "device": args.device,
        "dtype": args.dtype,
        "attention": args.sdpa,
        "layers": layers,
        "latent_frames": frames,
        "latent_size": [height, width],
        "batch": 2,
        "step_s": seconds,
        "steps_per_s": 1.0 / seconds,
        "step_times_s": times,
        "peak_allocated_bytes": torch.cuda.max_memory_allocated() if device.type == "cuda" else None,
        "torch": torch.__version__,
    }
    print(json.dumps(result, indent=2))
    with open(args.json, "w") as f:
        json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
