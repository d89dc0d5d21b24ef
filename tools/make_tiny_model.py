"""Makes tests/fixtures/tiny_model: a CogVideoX-Fun-style diffusers pipeline directory with random tiny weights, in
the real layout (model_index.json; transformer/, vae/, text_encoder/, tokenizer/, scheduler/), and a DWM LoRA
folder beside it (pytorch_lora_weights.safetensors with PEFT keys, non_lora_weights.safetensors with the
patch embedding widened from 33 to 49 input channels, the hand channels zero-initialised as DWM does).

    python tools/make_tiny_model.py

The transformer takes 33 channels ([noisy 16 | mask 1 | static 16]); DWM's non-LoRA weights widen it to 49.
"""
import json
import pathlib
import shutil

import torch
from diffusers import AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXTransformer3DModel
from safetensors.torch import save_file
from transformers import T5Config, T5EncoderModel

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "tiny_model"
torch.manual_seed(0)

if OUT.exists():
    shutil.rmtree(OUT)
model_dir = OUT / "model"
lora_dir = OUT / "lora"
model_dir.mkdir(parents=True)
lora_dir.mkdir(parents=True)

text_dim = 32
transformer = CogVideoXTransformer3DModel(
    num_attention_heads=2,
    attention_head_dim=16,
    in_channels=33,
    out_channels=16,
    time_embed_dim=32,
    text_embed_dim=text_dim,
    num_layers=2,
    sample_width=12,
    sample_height=8,
    sample_frames=9,
    patch_size=2,
    max_text_seq_length=16,
    use_rotary_positional_embeddings=True,
    use_learned_positional_embeddings=False,
)
# Four blocks: 8x spatial and 4x temporal compression, as the real VAE.
vae = AutoencoderKLCogVideoX(
    block_out_channels=(8, 8, 16, 16),
    down_block_types=("CogVideoXDownBlock3D",) * 4,
    up_block_types=("CogVideoXUpBlock3D",) * 4,
    latent_channels=16,
    layers_per_block=1,
    norm_num_groups=4,
    temporal_compression_ratio=4,
    scaling_factor=0.7,
)
text_encoder = T5EncoderModel(
    T5Config(
        vocab_size=200,
        d_model=text_dim,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=16,
        feed_forward_proj="gated-gelu",
        dense_act_fn="gelu_new",
        is_gated_act=True,
        tie_word_embeddings=False,
    )
)
scheduler = CogVideoXDDIMScheduler(
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
transformer.save_pretrained(model_dir / "transformer", safe_serialization=True)
vae.save_pretrained(model_dir / "vae", safe_serialization=True)
text_encoder.save_pretrained(model_dir / "text_encoder", safe_serialization=True)
scheduler.save_pretrained(model_dir / "scheduler")
tokenizer_dir = model_dir / "tokenizer"
tokenizer_dir.mkdir()
shutil.copy(ROOT / "tests" / "fixtures" / "tokenizer" / "spiece.model", tokenizer_dir / "spiece.model")
(tokenizer_dir / "tokenizer_config.json").write_text(
    json.dumps({"tokenizer_class": "T5Tokenizer", "extra_ids": 100, "model_max_length": 16}, indent=1) + "\n"
)
(model_dir / "model_index.json").write_text(
    json.dumps(
        {
            "_class_name": "CogVideoXFunInpaintPipeline",
            "_diffusers_version": "0.32.2",
            "scheduler": ["diffusers", "CogVideoXDDIMScheduler"],
            "text_encoder": ["transformers", "T5EncoderModel"],
            "tokenizer": ["transformers", "T5Tokenizer"],
            "transformer": ["diffusers", "CogVideoXTransformer3DModel"],
            "vae": ["diffusers", "AutoencoderKLCogVideoX"],
        },
        indent=1,
    )
    + "\n"
)

# DWM LoRA: rank 4 on attn1.to_q/to_k/to_v/to_out.0 of every block, PEFT key names with the transformer. prefix.
rank = 4
lora = {}
inner = 2 * 16
for block in range(2):
    for target in ["to_q", "to_k", "to_v", "to_out.0"]:
        key = f"transformer.transformer_blocks.{block}.attn1.{target}"
        lora[f"{key}.lora_A.weight"] = torch.randn(rank, inner) * 0.05
        lora[f"{key}.lora_B.weight"] = torch.randn(inner, rank) * 0.05
save_file(lora, lora_dir / "pytorch_lora_weights.safetensors")
proj = transformer.patch_embed.proj
weight = torch.zeros(proj.weight.shape[0], 49, *proj.weight.shape[2:])
weight[:, :33] = proj.weight.detach()
# DWM zero-initialises the hand channels; after training they are not zero, so give them small values here.
weight[:, 33:] = torch.randn_like(weight[:, 33:]) * 0.02
save_file(
    {"transformer.patch_embed.proj.weight": weight.contiguous(), "transformer.patch_embed.proj.bias": proj.bias.detach().clone()},
    lora_dir / "non_lora_weights.safetensors",
)
total = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file())
print(f"wrote {OUT} ({total / 1e6:.2f} MB)")
