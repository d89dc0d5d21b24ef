"""PyTorch side of examples/bench_vae.rs: the same small AutoencoderKLCogVideoX weights and the same input,
timed on this CPU in float32, and compared with what the Rust port produced.

    cargo run --no-default-features --example bench_vae            # writes /tmp/handtwin-bench-vae
    /work/pyenv/bin/python tools/bench_vae_torch.py [/tmp/handtwin-bench-vae]
"""

import json
import math
import resource
import sys
import time

import torch
from diffusers import AutoencoderKLCogVideoX
from safetensors.torch import load_file

FRAMES, HEIGHT, WIDTH = 17, 64, 96


def test_video(frames, height, width):
    t = torch.arange(frames, dtype=torch.float64).view(frames, 1, 1)
    y = torch.arange(height, dtype=torch.float64).view(1, height, 1)
    x = torch.arange(width, dtype=torch.float64).view(1, 1, width)
    channels = [0.9 * torch.sin(0.1 * (y + 2.0 * x) + 0.3 * t + c) for c in range(3)]
    return torch.stack(channels).unsqueeze(0).float()


def relative_error(ours, reference):
    return ((ours - reference).abs().max() / reference.abs().max().clamp_min(1e-6)).item()


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else "/tmp/handtwin-bench-vae"
    torch.set_num_threads(2)
    config = json.load(open(f"{directory}/config.json"))
    vae = AutoencoderKLCogVideoX.from_config(config).eval()
    vae.load_state_dict(load_file(f"{directory}/model.safetensors"))
    x = test_video(FRAMES, HEIGHT, WIDTH)
    print(f"threads: {torch.get_num_threads()}, torch {torch.__version__}")
    with torch.no_grad():
        vae.decode(vae.encode(x).latent_dist.mode())  # warm-up
        cpu_start = time.process_time()
        start = time.perf_counter()
        mean = vae.encode(x).latent_dist.mode()
        encode_s = time.perf_counter() - start
        start = time.perf_counter()
        decoded = vae.decode(mean).sample
        decode_s = time.perf_counter() - start
        cpu_s = time.process_time() - cpu_start
    print(f"encode: {encode_s:.3f} s\ndecode: {decode_s:.3f} s\nencode+decode: {encode_s + decode_s:.3f} s")
    print(f"encode+decode CPU time (user+sys): {cpu_s:.2f} s")
    print(f"peak resident memory (ru_maxrss): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    try:
        ours = load_file(f"{directory}/ours.safetensors")
    except FileNotFoundError:
        return
    print(f"input identical: {relative_error(ours['sample'], x):.2e}")
    print(f"mean rel. error (ours vs torch): {relative_error(ours['mean'], mean):.2e}")
    print(f"decoded rel. error (ours vs torch): {relative_error(ours['decoded'], decoded):.2e}")


if __name__ == "__main__":
    main()
