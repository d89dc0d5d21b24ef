"""Parity cases for the CogVideoX VAE (diffusers AutoencoderKLCogVideoX), in the folder format of
shared/spec/parity-cases.md: random tiny configs on the CPU in float32.

    make_cases(out_root)  writes out_root/vae_*/{case.json, config.json, model.safetensors, io.safetensors}

Run alone: /work/pyenv/bin/python tools/parity_cases/vae.py tests/fixtures/parity
"""

import json
import pathlib
import shutil
import sys

import torch
from diffusers import AutoencoderKLCogVideoX
from safetensors.torch import save_file

RTOL = 1e-4

# Four blocks: 8x spatial, 4x temporal compression, as the real VAE (but tiny channels).
CONFIG_FOUR_BLOCKS = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=["CogVideoXDownBlock3D"] * 4,
    up_block_types=["CogVideoXUpBlock3D"] * 4,
    block_out_channels=[4, 4, 8, 8],
    latent_channels=4,
    layers_per_block=1,
    norm_num_groups=2,
    temporal_compression_ratio=4,
    sample_height=48,
    sample_width=64,
    scaling_factor=0.7,
)

# Three blocks: 4x spatial, 2x temporal, two resnets per down block, other eps and groups.
CONFIG_THREE_BLOCKS = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=["CogVideoXDownBlock3D"] * 3,
    up_block_types=["CogVideoXUpBlock3D"] * 3,
    block_out_channels=[4, 8, 8],
    latent_channels=3,
    layers_per_block=2,
    norm_num_groups=4,
    norm_eps=1e-5,
    temporal_compression_ratio=2,
    sample_height=32,
    sample_width=32,
    scaling_factor=1.15258426,
)


def build_vae(config: dict, seed: int) -> AutoencoderKLCogVideoX:
    torch.manual_seed(seed)
    vae = AutoencoderKLCogVideoX(**config).eval()
    # Default init leaves GroupNorm at identity and biases small; randomise them so the affine parts count.
    with torch.no_grad():
        for module in vae.modules():
            if isinstance(module, torch.nn.GroupNorm):
                module.weight.copy_(1.0 + 0.2 * torch.randn_like(module.weight))
                module.bias.copy_(0.2 * torch.randn_like(module.bias))
            elif isinstance(module, (torch.nn.Conv2d, torch.nn.Conv3d)) and module.bias is not None:
                module.bias.copy_(0.1 * torch.randn_like(module.bias))
    return vae


def write_case(out_root: pathlib.Path, name: str, vae, case: dict, io: dict) -> None:
    case_dir = out_root / name
    if case_dir.exists():
        shutil.rmtree(case_dir)
    case_dir.mkdir(parents=True)
    vae.save_config(case_dir)  # config.json exactly as diffusers writes it
    state = {k: v.detach().contiguous().float() for k, v in vae.state_dict().items()}
    save_file(state, str(case_dir / "model.safetensors"))
    save_file({k: v.detach().contiguous().float() for k, v in io.items()}, str(case_dir / "io.safetensors"))
    (case_dir / "case.json").write_text(json.dumps({"rtol": RTOL, **case}, indent=2) + "\n")


def video(shape, seed):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=generator) * 2.0 - 1.0


def latents(shape, seed):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator)


@torch.no_grad()
def encode_case(out_root, name, config, seed, shape):
    vae = build_vae(config, seed)
    sample = video(shape, seed + 1)
    posterior = vae.encode(sample).latent_dist
    write_case(
        out_root,
        name,
        vae,
        {"component": "cogvideox_vae_encode", "tiling": False},
        {"sample": sample, "mean": posterior.mean, "logvar": posterior.logvar},
    )


@torch.no_grad()
def decode_case(out_root, name, config, seed, shape):
    vae = build_vae(config, seed)
    z = latents(shape, seed + 1)
    decoded = vae.decode(z).sample
    write_case(
        out_root,
        name,
        vae,
        {"component": "cogvideox_vae_decode", "tiling": False},
        {"latents": z, "sample": decoded},
    )


@torch.no_grad()
def tiled_case(out_root, name, config, seed, shape, tile_h, tile_w, factor_h, factor_w):
    vae = build_vae(config, seed)
    vae.enable_tiling(
        tile_sample_min_height=tile_h,
        tile_sample_min_width=tile_w,
        tile_overlap_factor_height=factor_h,
        tile_overlap_factor_width=factor_w,
    )
    sample = video(shape, seed + 1)
    posterior = vae.encode(sample).latent_dist
    decoded = vae.decode(posterior.mean).sample
    write_case(
        out_root,
        name,
        vae,
        {
            "component": "cogvideox_vae_tiled",
            "tiling": True,
            "tile_sample_min_height": tile_h,
            "tile_sample_min_width": tile_w,
            "tile_overlap_factor_height": factor_h,
            "tile_overlap_factor_width": factor_w,
        },
        {"sample": sample, "mean": posterior.mean, "logvar": posterior.logvar, "decoded": decoded},
    )


def make_cases(out_root: pathlib.Path) -> None:
    torch.set_num_threads(2)
    out_root = pathlib.Path(out_root)
    four, three = CONFIG_FOUR_BLOCKS, CONFIG_THREE_BLOCKS
    # 17 frames = chunks of 9 + 8 frames (caches across chunks); latent grid 3x5 (odd).
    encode_case(out_root, "vae_encode_17f_24x40", four, 10, (1, 3, 17, 24, 40))
    # Batch 2, 25 frames (9 + 8 + 8), a grid that is not a multiple of 8 (odd sizes after padding).
    encode_case(out_root, "vae_encode_b2_25f_10x18", four, 20, (2, 3, 25, 10, 18))
    # 10 frames: one chunk of an even count; 2x temporal ratio, 3 blocks.
    encode_case(out_root, "vae_encode_3blk_10f_12x20", three, 30, (1, 3, 10, 12, 20))
    # 5 latent frames = chunks of 3 + 2 (odd first chunk: SpatialNorm first/rest split, odd upsampling).
    decode_case(out_root, "vae_decode_5t_3x5", four, 40, (1, 4, 5, 3, 5))
    # 7 latent frames = 3 + 2 + 2; batch 2.
    decode_case(out_root, "vae_decode_b2_7t_2x3", four, 50, (2, 4, 7, 2, 3))
    # 4 latent frames = 2 + 2 (even first chunk), 1 latent frame (single frame, no time upsampling).
    decode_case(out_root, "vae_decode_4t_2x3", four, 60, (1, 4, 4, 2, 3))
    decode_case(out_root, "vae_decode_1t_3x3", four, 70, (1, 4, 1, 3, 3))
    decode_case(out_root, "vae_decode_3blk_5t_5x4", three, 80, (1, 3, 5, 5, 4))
    # 3 x 4 tiles in pixels and latents, blending on both axes, 17 frames (two chunks per tile).
    tiled_case(out_root, "vae_tiled_3blk_17f_32x40", three, 90, (1, 3, 17, 32, 40), 16, 16, 0.25, 0.25)
    # 2 x 3 tiles with the 8x VAE; uneven edge tiles; blend extents differ per axis.
    tiled_case(out_root, "vae_tiled_9f_40x64", four, 100, (1, 3, 9, 40, 64), 32, 32, 0.25, 0.2)


if __name__ == "__main__":
    make_cases(pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/parity"))
