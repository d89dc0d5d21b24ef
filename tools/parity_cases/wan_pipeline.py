"""Parity cases for `dwm_wan_pipeline`: DWM's Wan inference loop (dwm-wan-reference.md §2–3) in float32 with tiny
random diffusers components:

- static latents = the posterior mode, normalised: (μ − latents_mean) / latents_std;
- hand latents = (μ − mean) / std + exp(½·logvar)·ε — DWM's VAE normalises the mean inside encode but not the
  log-variance, so the noise is *not* divided by std (the spec's trap; diffusers' pipelines normalise after
  sampling, which would differ);
- transformer input [noisy z | mask 4 = 1.0 | static z | hand z] on the channel axis of [B, C, F, H, W];
- prompt embeddings zero-padded to 512 tokens; zero CLIP features when the model has the image branch;
- classifier-free guidance (only when guidance > 1) with the batch [negative, positive];
- FlowMatchEulerDiscreteScheduler(shift=5, no dynamic shifting), t = σ·1000;
- decode z·std + mean, clamp(−1, 1), then (x/2 + 0.5).clamp(0, 1).

The tiny VAE keeps Wan's temporal structure (4× time, so 4 mask channels) with z = 4 (16 transformer channels)
or z = 16 (DWM's 52)."""

import json
import pathlib

import torch
from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanTransformer3DModel

from _common import perturb_norms, write_case

TEXT_LEN = 512

# name, z, (frames, height, width), steps, guidance, image branch
CASES = [
    ("dwm_wan_pipeline_2steps_cfg6_i2v", 4, (9, 16, 32), 2, 6.0, True),
    ("dwm_wan_pipeline_3steps_noguidance_52ch", 16, (5, 32, 16), 3, 1.0, False),
]


@torch.no_grad()
def dwm_wan_sample(vae, transformer, scheduler, static_video, hand_video, prompt, negative, noise, hand_eps, steps,
                   guidance):
    z = vae.config.z_dim
    mean = torch.tensor(vae.config.latents_mean).view(1, z, 1, 1, 1)
    std = torch.tensor(vae.config.latents_std).view(1, z, 1, 1, 1)
    static_latents = (vae.encode(static_video).latent_dist.mode() - mean) / std
    hand_dist = vae.encode(hand_video).latent_dist
    hand_latents = (hand_dist.mean - mean) / std + hand_dist.std * hand_eps
    mask = torch.ones(1, 4, *static_latents.shape[2:])
    conditions = torch.cat([mask, static_latents, hand_latents], dim=1)

    def pad(e):
        return torch.cat([e, e.new_zeros(1, TEXT_LEN - e.shape[1], e.shape[2])], dim=1)

    cfg = guidance > 1.0
    batch = 2 if cfg else 1
    text = torch.cat([pad(negative), pad(prompt)]) if cfg else pad(prompt)
    image = None
    if transformer.config.image_dim is not None:
        image = torch.zeros(batch, 257, transformer.config.image_dim)
    scheduler.set_timesteps(steps)
    latents = noise
    for t in scheduler.timesteps:
        model_input = torch.cat([torch.cat([latents] * batch), conditions.expand(batch, -1, -1, -1, -1)], dim=1)
        v = transformer(model_input, t.expand(batch), text, encoder_hidden_states_image=image,
                        return_dict=False)[0].float()
        if cfg:
            uncond, cond = v.chunk(2)
            v = uncond + guidance * (cond - uncond)
        latents = scheduler.step(v, t, latents, return_dict=False)[0]
    video = vae.decode(latents * std + mean).sample
    return (video / 2 + 0.5).clamp(0, 1)


def make_cases(out_root: pathlib.Path) -> None:
    for index, (name, z, (frames, height, width), steps, guidance, image_branch) in enumerate(CASES):
        torch.manual_seed(3700 + index)
        gen = torch.Generator().manual_seed(3700 + index)
        # Latent statistics away from 0 / 1, so the normalisation is tested.
        latents_mean = (torch.randn(z, generator=gen) * 0.5).tolist()
        latents_std = (torch.rand(z, generator=gen) * 2 + 0.5).tolist()
        vae = AutoencoderKLWan(base_dim=4, z_dim=z, dim_mult=[1, 2, 2, 2], num_res_blocks=1, attn_scales=[],
                               temperal_downsample=[False, True, True], latents_mean=latents_mean,
                               latents_std=latents_std).eval()
        perturb_norms(vae, gen)
        text_dim = 24
        extra = dict(image_dim=20, added_kv_proj_dim=32) if image_branch else {}
        transformer = WanTransformer3DModel(num_attention_heads=2, attention_head_dim=16, in_channels=3 * z + 4,
                                            out_channels=z, text_dim=text_dim, freq_dim=32, ffn_dim=48,
                                            num_layers=2, **extra).eval()
        perturb_norms(transformer, gen)
        scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=5.0, use_dynamic_shifting=False)
        f, h, w = (frames - 1) // 4 + 1, height // 8, width // 8
        static_video = torch.rand(1, 3, frames, height, width, generator=gen) * 2 - 1
        hand_video = torch.rand(1, 3, frames, height, width, generator=gen) * 2 - 1
        prompt = torch.randn(1, 7, text_dim, generator=gen)
        negative = torch.randn(1, 3, text_dim, generator=gen)
        noise = torch.randn(1, z, f, h, w, generator=gen)
        hand_eps = torch.randn(1, z, f, h, w, generator=gen)
        video = dwm_wan_sample(vae, transformer, scheduler, static_video, hand_video, prompt, negative, noise,
                               hand_eps, steps, guidance)
        state = {f"transformer.{k}": v for k, v in transformer.state_dict().items()}
        state.update({f"vae.{k}": v for k, v in vae.state_dict().items()})
        config = {
            "transformer": dict(transformer.config),
            "vae": dict(vae.config),
            "scheduler": json.loads(scheduler.to_json_string()),
        }
        write_case(
            out_root / name,
            {"component": "dwm_wan_pipeline", "rtol": 1e-3, "num_inference_steps": steps,
             "guidance_scale": guidance},
            config,
            {"static_video": static_video, "hand_video": hand_video, "prompt_embeds": prompt,
             "negative_prompt_embeds": negative, "initial_noise": noise, "hand_posterior_eps": hand_eps,
             "video": video},
            state,
        )
