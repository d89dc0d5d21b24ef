"""Parity cases for `flow_match_euler`: diffusers' FlowMatchEulerDiscreteScheduler, the Wan variant's sampler
(dwm-wan-reference.md §3: shift 5, 50 steps, no dynamic shifting), its sigmas and timesteps and a chain of steps.

The spec reads diffusers v0.32.2's scheduler; these cases were made with the diffusers the generator finds (0.42.1
when they were written). The two compute `set_timesteps` and the non-stochastic `step` the same way.
"""

import json
import pathlib

import torch
from diffusers import FlowMatchEulerDiscreteScheduler

from _common import write_case

CASES = [
    # DWM-Wan's inference: FlowMatchEulerDiscreteScheduler(1000, shift=5.0, use_dynamic_shifting=False), 50 steps.
    ("flow_match_wan_shift5_50", dict(num_train_timesteps=1000, shift=5.0), 50, 4),
    ("flow_match_shift3_7", dict(num_train_timesteps=1000, shift=3.0), 7, 7),
    ("flow_match_unshifted_4_t500", dict(num_train_timesteps=500, shift=1.0), 4, 4),
    ("flow_match_single_step", dict(num_train_timesteps=1000, shift=5.0), 1, 1),
]


def make_cases(out_root: pathlib.Path) -> None:
    for index, (name, config, steps, chained) in enumerate(CASES):
        gen = torch.Generator().manual_seed(3000 + index)
        scheduler = FlowMatchEulerDiscreteScheduler(**config)
        scheduler.set_timesteps(steps)
        io = {"sigmas": scheduler.sigmas.double(), "timesteps": scheduler.timesteps.float()}
        sample = torch.randn(1, 16, 2, 3, 5, generator=gen)
        # The first `chained` steps as a chain (prev_sample feeds the next step).
        for i, t in enumerate(scheduler.timesteps[:chained]):
            model_output = torch.randn(sample.shape, generator=gen)
            prev = scheduler.step(model_output, t, sample, return_dict=False)[0]
            io[f"step{i}_sample"] = sample
            io[f"step{i}_model_output"] = model_output
            io[f"step{i}_prev_sample"] = prev.float()
            sample = prev.float()
        write_case(out_root / name, {"component": "flow_match_euler", "rtol": 1e-6, "num_inference_steps": steps,
                                      "shift": config["shift"]},
                   json.loads(scheduler.to_json_string()), io)
