"""Parity cases for `wan_vae_encode` / `wan_vae_decode`: diffusers AutoencoderKLWan (the Wan 2.1 VAE: causal 3-D convs
with their frame caches, encoding in chunks of 1, 4, 4, ... frames and decoding one latent frame at a time) with
tiny random weights. Outputs are raw: the encoder's mean and clamped logvar before any latents mean/std
normalisation, the decoder's sample after the final clamp(-1, 1)."""

import pathlib

import torch
from diffusers import AutoencoderKLWan

from _common import perturb_norms, write_case

TINY = dict(base_dim=4, z_dim=4, dim_mult=[1, 2, 2, 2], num_res_blocks=1, attn_scales=[],
            temperal_downsample=[False, True, True], latents_mean=[0.0] * 4, latents_std=[1.0] * 4)

# name, config overrides, shape of the input (video [B,3,T,H,W] or latents [B,z,t,h,w])
ENCODE = [
    ("wan_vae_encode_9f_16x24", {}, (1, 3, 9, 16, 24)),
    # Two samples, two res-blocks per level, 11 frames (the reference drops the two that do not fill a chunk of
    # 4), a height that turns odd (20 → 10 → 5 → 3).
    ("wan_vae_encode_b2_11f_20x16", dict(num_res_blocks=2, base_dim=6), (2, 3, 11, 20, 16)),
    ("wan_vae_encode_1f_8x8", dict(z_dim=3, latents_mean=[0.0] * 3, latents_std=[1.0] * 3), (1, 3, 1, 8, 8)),
]
DECODE = [
    ("wan_vae_decode_3t_2x3", {}, (1, 4, 3, 2, 3)),
    ("wan_vae_decode_b2_5t_3x2", dict(num_res_blocks=2, base_dim=6), (2, 4, 5, 3, 2)),
    ("wan_vae_decode_1t_2x2", {}, (1, 4, 1, 2, 2)),
]


def build(overrides: dict, seed: int) -> tuple[AutoencoderKLWan, torch.Generator]:
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = AutoencoderKLWan(**{**TINY, **overrides}).eval()
    perturb_norms(model, gen)
    return model, gen


def make_cases(out_root: pathlib.Path) -> None:
    for index, (name, overrides, shape) in enumerate(ENCODE):
        model, gen = build(overrides, 3500 + index)
        sample = torch.rand(shape, generator=gen) * 2 - 1
        with torch.no_grad():
            posterior = model.encode(sample).latent_dist
        write_case(out_root / name, {"component": "wan_vae_encode", "rtol": 1e-4}, dict(model.config),
                   {"sample": sample, "mean": posterior.mean, "logvar": posterior.logvar}, model.state_dict())
    for index, (name, overrides, shape) in enumerate(DECODE):
        model, gen = build(overrides, 3600 + index)
        latents = torch.randn(shape, generator=gen)
        with torch.no_grad():
            decoded = model.decode(latents).sample
        write_case(out_root / name, {"component": "wan_vae_decode", "rtol": 1e-4}, dict(model.config),
                   {"latents": latents, "sample": decoded}, model.state_dict())
