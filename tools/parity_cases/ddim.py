"""Parity cases for `cogvideox_ddim`: diffusers CogVideoXDDIMScheduler, its tables and a chain of steps."""

import json
import pathlib

import torch
from diffusers import CogVideoXDDIMScheduler

from _common import write_case

BASE_5B = dict(num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
               prediction_type="v_prediction", rescale_betas_zero_snr=True, set_alpha_to_one=True, steps_offset=0,
               timestep_spacing="trailing", clip_sample=False, snr_shift_scale=1.0)

CASES = [
    ("ddim_5b_trailing_v_50", dict(BASE_5B), 50),
    ("ddim_snr3_zero_snr_7", dict(BASE_5B, snr_shift_scale=3.0), 7),
    ("ddim_leading_epsilon_6", dict(BASE_5B, prediction_type="epsilon", rescale_betas_zero_snr=False,
                                    set_alpha_to_one=False, timestep_spacing="leading", steps_offset=1,
                                    snr_shift_scale=1.5), 6),
    ("ddim_linspace_v_4", dict(BASE_5B, timestep_spacing="linspace", num_train_timesteps=500, beta_end=0.02), 4),
]


def make_cases(out_root: pathlib.Path) -> None:
    for index, (name, config, steps) in enumerate(CASES):
        gen = torch.Generator().manual_seed(2000 + index)
        scheduler = CogVideoXDDIMScheduler(**config)
        scheduler.set_timesteps(steps)
        io = {"timesteps": scheduler.timesteps.to(torch.int64), "alphas_cumprod": scheduler.alphas_cumprod.double()}
        sample = torch.randn(1, 2, 3, 4, 6, generator=gen)
        for i, t in enumerate(scheduler.timesteps):
            model_output = torch.randn(sample.shape, generator=gen)
            prev = scheduler.step(model_output, t, sample, return_dict=False)[0]
            io[f"step{i}_t"] = t.reshape(1).to(torch.int64)
            io[f"step{i}_sample"] = sample
            io[f"step{i}_model_output"] = model_output
            io[f"step{i}_prev_sample"] = prev.float()
            sample = prev.float()
        write_case(out_root / name, {"component": "cogvideox_ddim", "rtol": 1e-4, "num_inference_steps": steps},
                   json.loads(scheduler.to_json_string()), io)
