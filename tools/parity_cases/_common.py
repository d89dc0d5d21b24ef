"""Helpers shared by the parity case modules: writing one case folder in the spec's format."""

import json
import pathlib

import torch
from safetensors.torch import save_file


def write_case(folder: pathlib.Path, case: dict, config: dict, io: dict, model_state: dict | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "case.json").write_text(json.dumps(case, indent=2) + "\n")
    (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    if model_state is not None:
        state = {k: v.detach().to(torch.float32).contiguous() for k, v in model_state.items()}
        save_file(state, str(folder / "model.safetensors"))
    save_file({k: v.detach().clone().contiguous() for k, v in io.items()}, str(folder / "io.safetensors"))
    size = sum(p.stat().st_size for p in folder.iterdir())
    print(f"  {folder.name}: {size / 1024:.0f} KiB")


def perturb_norms(model: torch.nn.Module, generator: torch.Generator) -> None:
    """Norm weights start at 1 and biases at 0; move them so the affine parts are tested too."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name:
                param.add_(0.2 * torch.randn(param.shape, generator=generator))
