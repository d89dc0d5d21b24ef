"""Parity cases for `cogvideox_transformer`: diffusers CogVideoXTransformer3DModel (CogVideoX 1.0 layout, RoPE)
with tiny random weights, plus the pipeline's RoPE tables for the case's latent size."""

import json
import pathlib

import torch
from diffusers import CogVideoXTransformer3DModel
from diffusers.models.embeddings import get_3d_rotary_pos_embed
from diffusers.pipelines.cogvideo.pipeline_cogvideox import get_resize_crop_region_for_grid

from _common import perturb_norms, write_case

# name, config overrides, (batch, frames, height, width, text length), timesteps
CASES = [
    (
        "transformer_odd_grid",
        dict(num_attention_heads=2, attention_head_dim=16, in_channels=5, out_channels=3, time_embed_dim=12,
             text_embed_dim=10, num_layers=2, sample_height=6, sample_width=10),
        (2, 3, 6, 10, 7),
        [999, 37],
    ),
    (
        "transformer_cropped_rope",
        dict(num_attention_heads=3, attention_head_dim=32, in_channels=4, out_channels=4, time_embed_dim=16,
             text_embed_dim=12, num_layers=2, sample_height=8, sample_width=8),
        (1, 2, 6, 10, 5),
        [500],
    ),
    (
        "transformer_gelu_shift",
        dict(num_attention_heads=2, attention_head_dim=16, in_channels=3, out_channels=2, time_embed_dim=8,
             text_embed_dim=6, num_layers=1, sample_height=10, sample_width=6, activation_fn="gelu",
             flip_sin_to_cos=False, freq_shift=1, norm_eps=1e-4, patch_size=1),
        (2, 4, 5, 3, 9),
        [0, 250],
    ),
    (
        # 1,200 video tokens: more than one 1,024-query attention chunk in the Rust runner.
        "transformer_many_tokens",
        dict(num_attention_heads=2, attention_head_dim=16, in_channels=2, out_channels=2, time_embed_dim=8,
             text_embed_dim=6, num_layers=1, sample_height=16, sample_width=24, patch_size=1),
        (1, 3, 20, 20, 4),
        [999],
    ),
]


def rope_tables(config, latent_h: int, latent_w: int, frames: int):
    """What CogVideoXPipeline._prepare_rotary_positional_embeddings computes (CogVideoX 1.0 branch)."""
    p = config.patch_size
    grid_h, grid_w = latent_h // p, latent_w // p
    base_w = config.sample_width // p
    base_h = config.sample_height // p
    crops = get_resize_crop_region_for_grid((grid_h, grid_w), base_w, base_h)
    return get_3d_rotary_pos_embed(
        embed_dim=config.attention_head_dim, crops_coords=crops, grid_size=(grid_h, grid_w), temporal_size=frames
    )


def make_cases(out_root: pathlib.Path) -> None:
    for index, (name, overrides, (b, f, h, w, text_len), timesteps) in enumerate(CASES):
        gen = torch.Generator().manual_seed(1000 + index)
        torch.manual_seed(1000 + index)
        config = dict(use_rotary_positional_embeddings=True, use_learned_positional_embeddings=False,
                      attention_bias=True, max_text_seq_length=text_len, sample_frames=(f - 1) * 4 + 1)
        config.update(overrides)
        model = CogVideoXTransformer3DModel(**config).eval()
        perturb_norms(model, gen)
        hidden = torch.randn(b, f, model.config.in_channels, h, w, generator=gen)
        text = torch.randn(b, text_len, model.config.text_embed_dim, generator=gen)
        timestep = torch.tensor(timesteps, dtype=torch.int64)
        cos, sin = rope_tables(model.config, h, w, f)
        with torch.no_grad():
            sample = model(hidden, text, timestep, image_rotary_emb=(cos, sin), return_dict=False)[0]
        write_case(
            out_root / name,
            {"component": "cogvideox_transformer", "rtol": 1e-4},
            json.loads(model.to_json_string()),
            {"hidden_states": hidden, "encoder_hidden_states": text, "timestep": timestep,
             "rope_cos": cos.float(), "rope_sin": sin.float(), "sample": sample},
            model.state_dict(),
        )
