"""PyTorch side of the transformer benchmark (examples/bench_transformer.rs runs the same weights in candle).

    python tools/bench_transformer_torch.py --out target/bench_transformer [--runs 3]

Builds a small CogVideoX transformer (4 layers, 8 heads × 64, 49 input channels, 4096-wide text, 226 text tokens,
9 latent frames of 30×44 → 2,970 video tokens), with fixed random weights, times one forward on the CPU in float32,
and writes config.json, model.safetensors and io.safetensors (inputs, RoPE tables, output) to --out so that the
Rust benchmark uses the same weights and checks the same output.
"""

import argparse
import json
import pathlib
import resource
import statistics
import time

import torch
from diffusers import CogVideoXTransformer3DModel
from diffusers.models.embeddings import get_3d_rotary_pos_embed
from diffusers.pipelines.cogvideo.pipeline_cogvideox import get_resize_crop_region_for_grid
from safetensors.torch import save_file

CONFIG = dict(num_attention_heads=8, attention_head_dim=64, in_channels=49, out_channels=16, time_embed_dim=512,
              text_embed_dim=4096, num_layers=4, sample_height=60, sample_width=90, max_text_seq_length=226,
              use_rotary_positional_embeddings=True)
BATCH, FRAMES, HEIGHT, WIDTH, TEXT = 1, 9, 30, 44, 226


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=pathlib.Path, required=True)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = CogVideoXTransformer3DModel(**CONFIG).eval()
    gen = torch.Generator().manual_seed(1)
    hidden = torch.randn(BATCH, FRAMES, 49, HEIGHT, WIDTH, generator=gen)
    text = torch.randn(BATCH, TEXT, 4096, generator=gen)
    timestep = torch.tensor([500] * BATCH, dtype=torch.int64)
    p = model.config.patch_size
    crops = get_resize_crop_region_for_grid((HEIGHT // p, WIDTH // p), 90 // p, 60 // p)
    cos, sin = get_3d_rotary_pos_embed(64, crops, (HEIGHT // p, WIDTH // p), FRAMES)
    times = []
    with torch.no_grad():
        model(hidden, text, timestep, image_rotary_emb=(cos, sin))  # warm-up
        for _ in range(args.runs):
            start = time.perf_counter()
            sample = model(hidden, text, timestep, image_rotary_emb=(cos, sin), return_dict=False)[0]
            times.append(time.perf_counter() - start)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tokens = TEXT + FRAMES * (HEIGHT // p) * (WIDTH // p)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {tokens} tokens: "
          f"forward median {statistics.median(times):.3f} s, min {min(times):.3f} s over {args.runs} runs; "
          f"peak RSS {peak_mib:.0f} MiB")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "config.json").write_text(model.to_json_string())
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(args.out / "model.safetensors"))
    save_file({"hidden_states": hidden, "encoder_hidden_states": text, "timestep": timestep,
               "rope_cos": cos.contiguous(), "rope_sin": sin.contiguous(), "sample": sample.contiguous()},
              str(args.out / "io.safetensors"))
    (args.out / "torch_timing.json").write_text(json.dumps({"median_s": statistics.median(times),
                                                            "min_s": min(times), "peak_rss_mib": peak_mib}))


if __name__ == "__main__":
    main()
