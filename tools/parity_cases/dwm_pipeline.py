"""Parity cases for `dwm_pipeline`: DWM's sampling loop (dwm-reference.md §1) in float32 with tiny random diffusers
components — static latents = posterior mode × scaling factor, hand latents = (mean + std·ε) × scaling factor with the
given ε, mask channel = the scaling factor, transformer input [noisy | mask | static | hand] on the channel axis of
[B, F, C, H, W], classifier-free guidance with the batch [negative, positive], the CogVideoX DDIM step, decode,
(x/2 + 0.5).clamp(0, 1).

The tiny VAE has 4 latent channels, so the transformer takes 4 + 1 + 4 + 4 = 13 channels (DWM: 16 + 1 + 16 + 16 = 49).
"""

import json
import pathlib

import torch
from diffusers import AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXTransformer3DModel
from diffusers.models.embeddings import get_3d_rotary_pos_embed
from diffusers.pipelines.cogvideo.pipeline_cogvideox import get_resize_crop_region_for_grid

from _common import perturb_norms, write_case

LATENT = 4
VAE_CONFIG = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=["CogVideoXDownBlock3D"] * 4,
    up_block_types=["CogVideoXUpBlock3D"] * 4,
    block_out_channels=[4, 4, 8, 8],
    latent_channels=LATENT,
    layers_per_block=1,
    norm_num_groups=2,
    temporal_compression_ratio=4,
    scaling_factor=0.7,
)
SCHEDULER_CONFIG = dict(
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    clip_sample=False,
    prediction_type="v_prediction",
    rescale_betas_zero_snr=True,
    set_alpha_to_one=True,
    snr_shift_scale=1.0,
    steps_offset=0,
    timestep_spacing="trailing",
)

# name, (frames, height, width), steps, guidance, snr shift
CASES = [
    ("dwm_pipeline_2steps_cfg6", (9, 32, 48), 2, 6.0, 1.0),
    ("dwm_pipeline_3steps_noguidance", (9, 48, 32), 3, 1.0, 1.0),
    ("dwm_pipeline_4steps_17frames", (17, 32, 32), 4, 3.5, 3.0),
]


def rope_tables(config, latent_h, latent_w, frames):
    p = config.patch_size
    grid_h, grid_w = latent_h // p, latent_w // p
    crops = get_resize_crop_region_for_grid((grid_h, grid_w), config.sample_width // p, config.sample_height // p)
    return get_3d_rotary_pos_embed(
        embed_dim=config.attention_head_dim, crops_coords=crops, grid_size=(grid_h, grid_w), temporal_size=frames
    )


@torch.no_grad()
def dwm_sample(vae, transformer, scheduler, static_video, hand_video, prompt, negative, noise, hand_eps, steps, guidance):
    sf = vae.config.scaling_factor
    static_latents = vae.encode(static_video).latent_dist.mode() * sf
    hand_dist = vae.encode(hand_video).latent_dist
    hand_latents = (hand_dist.mean + hand_dist.std * hand_eps) * sf
    static_latents = static_latents.permute(0, 2, 1, 3, 4)
    hand_latents = hand_latents.permute(0, 2, 1, 3, 4)
    mask = torch.full_like(static_latents[:, :, :1], sf)
    conditions = torch.cat([mask, static_latents, hand_latents], dim=2)
    conditions = torch.cat([conditions, conditions])
    text = torch.cat([negative, prompt])
    scheduler.set_timesteps(steps)
    latents = noise * scheduler.init_noise_sigma
    f, h, w = latents.shape[1], latents.shape[3], latents.shape[4]
    rope = rope_tables(transformer.config, h, w, f)
    for t in scheduler.timesteps:
        model_input = torch.cat([torch.cat([latents, latents]), conditions], dim=2)
        v = transformer(model_input, text, t.expand(2), image_rotary_emb=rope, return_dict=False)[0].float()
        uncond, cond = v.chunk(2)
        v = uncond + guidance * (cond - uncond)
        latents = scheduler.step(v, t, latents, return_dict=False)[0]
    video = vae.decode(latents.permute(0, 2, 1, 3, 4) / sf).sample
    return (video / 2 + 0.5).clamp(0, 1)


def make_cases(out_root: pathlib.Path) -> None:
    for index, (name, (frames, height, width), steps, guidance, shift) in enumerate(CASES):
        torch.manual_seed(2000 + index)
        gen = torch.Generator().manual_seed(2000 + index)
        vae = AutoencoderKLCogVideoX(**VAE_CONFIG).eval()
        perturb_norms(vae, gen)
        f, h, w = (frames - 1) // 4 + 1, height // 8, width // 8
        text_len, text_dim = 6, 12
        transformer = CogVideoXTransformer3DModel(
            num_attention_heads=2,
            attention_head_dim=16,
            in_channels=3 * LATENT + 1,
            out_channels=LATENT,
            time_embed_dim=16,
            text_embed_dim=text_dim,
            num_layers=2,
            sample_height=h,
            sample_width=w,
            sample_frames=frames,
            max_text_seq_length=text_len,
            use_rotary_positional_embeddings=True,
            use_learned_positional_embeddings=False,
        ).eval()
        perturb_norms(transformer, gen)
        scheduler = CogVideoXDDIMScheduler(**{**SCHEDULER_CONFIG, "snr_shift_scale": shift})
        static_video = torch.rand(1, 3, frames, height, width, generator=gen) * 2 - 1
        hand_video = torch.rand(1, 3, frames, height, width, generator=gen) * 2 - 1
        prompt = torch.randn(1, text_len, text_dim, generator=gen)
        negative = torch.randn(1, text_len, text_dim, generator=gen)
        noise = torch.randn(1, f, LATENT, h, w, generator=gen)
        hand_eps = torch.randn(1, LATENT, f, h, w, generator=gen)
        video = dwm_sample(
            vae, transformer, scheduler, static_video, hand_video, prompt, negative, noise, hand_eps, steps, guidance
        )
        state = {f"transformer.{k}": v for k, v in transformer.state_dict().items()}
        state.update({f"vae.{k}": v for k, v in vae.state_dict().items()})
        config = {
            "transformer": json.loads(transformer.to_json_string()),
            "vae": json.loads(vae.to_json_string()),
            "scheduler": json.loads(scheduler.to_json_string()),
        }
        write_case(
            out_root / name,
            {"component": "dwm_pipeline", "rtol": 1e-3, "num_inference_steps": steps, "guidance_scale": guidance},
            config,
            {
                "static_video": static_video,
                "hand_video": hand_video,
                "prompt_embeds": prompt,
                "negative_prompt_embeds": negative,
                "initial_noise": noise,
                "hand_posterior_eps": hand_eps,
                "video": video,
            },
            state,
        )
