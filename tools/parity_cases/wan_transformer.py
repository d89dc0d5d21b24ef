"""Parity cases for `wan_transformer`: diffusers WanTransformer3DModel with tiny random weights, text-only (T2V) and
with the I2V image branch DWM-Wan runs (Wan2.1-Fun-InP; `added_kv_proj_dim` = heads·head_dim, the text then exactly
512 tokens because diffusers splits the joint context at len − 512). Timesteps are non-integer, as the flow-matching
sampler gives them."""

import pathlib

import torch
from diffusers import WanTransformer3DModel

from _common import perturb_norms, write_case

# name, config overrides, (batch, frames, height, width, text length), timesteps, image tokens
CASES = [
    ("wan_transformer_t2v", dict(num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
                                 text_dim=32, freq_dim=16, ffn_dim=40, num_layers=2),
     (2, 3, 4, 6, 7), [999.3, 412.7], None),
    # DWM's widened input (52 = noisy 16 | mask 4 | static 16 | hand 16), the image branch, an odd token grid.
    ("wan_transformer_i2v_dwm52", dict(num_attention_heads=2, attention_head_dim=16, in_channels=52, out_channels=16,
                                       text_dim=24, freq_dim=32, ffn_dim=48, num_layers=2, image_dim=20,
                                       added_kv_proj_dim=32),
     (1, 2, 6, 10, 512), [733.25], 257),
    # No cross-attention norm, a head split 8/6/6, 5·5·7 tokens, different eps, two samples.
    ("wan_transformer_odd_grid", dict(num_attention_heads=3, attention_head_dim=20, in_channels=5, out_channels=3,
                                      text_dim=8, freq_dim=12, ffn_dim=30, num_layers=1, cross_attn_norm=False,
                                      eps=1e-5),
     (2, 5, 10, 14, 9), [0.0, 58.125], None),
]


def make_cases(out_root: pathlib.Path) -> None:
    for index, (name, overrides, (b, f, h, w, length), timesteps, image_tokens) in enumerate(CASES):
        gen = torch.Generator().manual_seed(3400 + index)
        torch.manual_seed(3400 + index)
        model = WanTransformer3DModel(**overrides).eval()
        perturb_norms(model, gen)
        with torch.no_grad():
            # Biases start at zero; random ones test that they are read.
            for param_name, param in model.named_parameters():
                if param_name.endswith(".bias") and "norm" not in param_name:
                    param.copy_(0.1 * torch.randn(param.shape, generator=gen))
        io = {
            "hidden_states": torch.randn(b, overrides["in_channels"], f, h, w, generator=gen),
            "encoder_hidden_states": torch.randn(b, length, overrides["text_dim"], generator=gen),
            "timestep": torch.tensor(timesteps, dtype=torch.float32),
        }
        if image_tokens is not None:
            io["encoder_hidden_states_image"] = torch.randn(b, image_tokens, overrides["image_dim"], generator=gen)
        with torch.no_grad():
            sample = model(hidden_states=io["hidden_states"], timestep=io["timestep"],
                           encoder_hidden_states=io["encoder_hidden_states"],
                           encoder_hidden_states_image=io.get("encoder_hidden_states_image"),
                           return_dict=False)[0]
        io["sample"] = sample
        write_case(out_root / name, {"component": "wan_transformer", "rtol": 1e-4}, dict(model.config), io,
                   model.state_dict())
