"""Makes tests/fixtures/tiny_wan_model: a Wan2.1-Fun-InP-style model folder with random tiny weights in the layout
Wan's releases ship (config.json with Wan's keys; the transformer in two safetensors shards with an index; the VAE
and the umT5 encoder as PyTorch state dicts, Wan2.1_VAE.pth and models_t5_umt5-xxl-enc-bf16.pth, under Wan's key
names; google/umt5-xxl/ for the tokenizer), and a DWM-Wan LoRA folder beside it
(lora_diffusion_pytorch_model.safetensors with kohya keys on every Linear of the transformer,
non_lora_weights.safetensors with the patch embedding widened from 36 to 52 input channels, the hand channels
zero-initialised as DWM does).

    python tools/make_tiny_wan_model.py

The networks are built with diffusers / transformers and renamed to Wan's keys here, independently of handtwin's
own key maps, so loading this folder checks those maps too. The tokenizer is handtwin's own tiny SentencePiece
model (models/tiny-dwm/tokenizer), not umT5's 256k vocabulary.
"""
import json
import pathlib
import re
import shutil

import torch
from diffusers import AutoencoderKLWan, WanTransformer3DModel
from safetensors.torch import save_file
from transformers import UMT5Config, UMT5EncoderModel

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "tiny_wan_model"
torch.manual_seed(0)
gen = torch.Generator().manual_seed(0)

if OUT.exists():
    shutil.rmtree(OUT)
model_dir = OUT / "model"
lora_dir = OUT / "lora"
(model_dir / "google" / "umt5-xxl").mkdir(parents=True)
lora_dir.mkdir(parents=True)

DIM, HEADS, FFN, LAYERS, TEXT_DIM, Z = 32, 2, 48, 2, 24, 16


def perturb(module):
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "norm" in name or name.endswith("gamma"):
                p.add_(0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith(".bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=gen))


# --- transformer (base: 36 input channels, the I2V image branch), renamed to Wan's keys ----------------------
transformer = WanTransformer3DModel(num_attention_heads=HEADS, attention_head_dim=DIM // HEADS, in_channels=36,
                                    out_channels=Z, text_dim=TEXT_DIM, freq_dim=32, ffn_dim=FFN, num_layers=LAYERS,
                                    image_dim=1280, added_kv_proj_dim=DIM).eval()
perturb(transformer)


def wan_transformer_key(key: str) -> str:
    rules = [
        (r"^condition_embedder\.text_embedder\.linear_1\.", "text_embedding.0."),
        (r"^condition_embedder\.text_embedder\.linear_2\.", "text_embedding.2."),
        (r"^condition_embedder\.time_embedder\.linear_1\.", "time_embedding.0."),
        (r"^condition_embedder\.time_embedder\.linear_2\.", "time_embedding.2."),
        (r"^condition_embedder\.time_proj\.", "time_projection.1."),
        (r"^condition_embedder\.image_embedder\.norm1\.", "img_emb.proj.0."),
        (r"^condition_embedder\.image_embedder\.ff\.net\.0\.proj\.", "img_emb.proj.1."),
        (r"^condition_embedder\.image_embedder\.ff\.net\.2\.", "img_emb.proj.3."),
        (r"^condition_embedder\.image_embedder\.norm2\.", "img_emb.proj.4."),
        (r"^proj_out\.", "head.head."),
        (r"^scale_shift_table$", "head.modulation"),
        (r"\.attn1\.to_q\.", ".self_attn.q."), (r"\.attn1\.to_k\.", ".self_attn.k."),
        (r"\.attn1\.to_v\.", ".self_attn.v."), (r"\.attn1\.to_out\.0\.", ".self_attn.o."),
        (r"\.attn1\.", ".self_attn."),
        (r"\.attn2\.to_q\.", ".cross_attn.q."), (r"\.attn2\.to_k\.", ".cross_attn.k."),
        (r"\.attn2\.to_v\.", ".cross_attn.v."), (r"\.attn2\.to_out\.0\.", ".cross_attn.o."),
        (r"\.attn2\.add_k_proj\.", ".cross_attn.k_img."), (r"\.attn2\.add_v_proj\.", ".cross_attn.v_img."),
        (r"\.attn2\.norm_added_k\.", ".cross_attn.norm_k_img."), (r"\.attn2\.", ".cross_attn."),
        (r"\.norm2\.", ".norm3."),
        (r"\.ffn\.net\.0\.proj\.", ".ffn.0."), (r"\.ffn\.net\.2\.", ".ffn.2."),
        (r"\.scale_shift_table$", ".modulation"),
    ]
    for pattern, replacement in rules:
        key = re.sub(pattern, replacement, key)
    return key


state = {wan_transformer_key(k): v.to(torch.bfloat16).contiguous() for k, v in transformer.state_dict().items()}
keys = sorted(state)
shards = [keys[: len(keys) // 2], keys[len(keys) // 2:]]
weight_map = {}
for i, shard in enumerate(shards, start=1):
    name = f"diffusion_pytorch_model-{i:05d}-of-{len(shards):05d}.safetensors"
    save_file({k: state[k] for k in shard}, str(model_dir / name))
    weight_map.update({k: name for k in shard})
(model_dir / "diffusion_pytorch_model.safetensors.index.json").write_text(
    json.dumps({"metadata": {"total_size": sum(v.numel() * 2 for v in state.values())}, "weight_map": weight_map},
               indent=1) + "\n")
(model_dir / "config.json").write_text(json.dumps({
    "_class_name": "WanModel", "_diffusers_version": "0.30.0", "model_type": "i2v", "patch_size": [1, 2, 2],
    "text_len": 512, "in_dim": 36, "dim": DIM, "ffn_dim": FFN, "freq_dim": 32, "text_dim": TEXT_DIM, "out_dim": Z,
    "num_heads": HEADS, "num_layers": LAYERS, "window_size": [-1, -1], "qk_norm": True, "cross_attn_norm": True,
    "eps": 1e-06}, indent=1) + "\n")

# --- DWM-Wan LoRA: kohya keys (double underscore: the root module name is empty), rank 4, alpha 4 ------------
RANK = 4
lora = {}
for key, value in state.items():
    if key.endswith(".weight") and value.ndim == 2 and not key.startswith("img_emb.proj.0") \
            and "norm" not in key:
        module = "lora_unet__" + key[: -len(".weight")].replace(".", "_")
        out_features, in_features = value.shape
        lora[f"{module}.lora_down.weight"] = (0.1 * torch.randn(RANK, in_features, generator=gen)).to(torch.bfloat16)
        lora[f"{module}.lora_up.weight"] = (0.1 * torch.randn(out_features, RANK, generator=gen)).to(torch.bfloat16)
        lora[f"{module}.alpha"] = torch.tensor(float(RANK))
save_file(lora, str(lora_dir / "lora_diffusion_pytorch_model.safetensors"))
patch = state["patch_embedding.weight"].float()
widened = torch.zeros(patch.shape[0], 52, *patch.shape[2:])
widened[:, :36] = patch  # channels 36..51 (hand) zero-initialised, then trained: small random values here
widened[:, 36:] = 0.05 * torch.randn(patch.shape[0], 16, *patch.shape[2:], generator=gen)
save_file({"patch_embedding.weight": widened.to(torch.bfloat16),
           "patch_embedding.bias": state["patch_embedding.bias"]}, str(lora_dir / "non_lora_weights.safetensors"))

# --- VAE: z 16 (Wan 2.1's latent statistics), tiny widths, as Wan2.1_VAE.pth names it ------------------------
NRB = 1
vae = AutoencoderKLWan(base_dim=8, z_dim=Z, dim_mult=[1, 2, 2, 2], num_res_blocks=NRB, attn_scales=[],
                       temperal_downsample=[False, True, True]).eval()
perturb(vae)


def wan_vae_key(key: str) -> str:
    def residual(rest: str) -> str:
        return (rest.replace("norm1.", "residual.0.").replace("conv1.", "residual.2.")
                .replace("norm2.", "residual.3.").replace("conv2.", "residual.6.")
                .replace("conv_shortcut.", "shortcut."))

    if key.startswith("quant_conv."):
        return "conv1." + key[len("quant_conv."):]
    if key.startswith("post_quant_conv."):
        return "conv2." + key[len("post_quant_conv."):]
    side, rest = key.split(".", 1)
    if rest.startswith("conv_in."):
        return f"{side}.conv1." + rest[len("conv_in."):]
    if rest.startswith("norm_out."):
        return f"{side}.head.0." + rest[len("norm_out."):]
    if rest.startswith("conv_out."):
        return f"{side}.head.2." + rest[len("conv_out."):]
    m = re.match(r"mid_block\.(resnets|attentions)\.(\d)\.(.*)", rest)
    if m:
        index = {("resnets", "0"): 0, ("attentions", "0"): 1, ("resnets", "1"): 2}[(m[1], m[2])]
        inner = residual(m[3]) if m[1] == "resnets" else m[3]
        return f"{side}.middle.{index}.{inner}"
    m = re.match(r"down_blocks\.(\d+)\.(.*)", rest)
    if m:
        return f"encoder.downsamples.{m[1]}.{residual(m[2])}"
    m = re.match(r"up_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", rest)
    if m:
        return f"decoder.upsamples.{int(m[1]) * (NRB + 2) + int(m[2])}.{residual(m[3])}"
    m = re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.(.*)", rest)
    if m:
        return f"decoder.upsamples.{int(m[1]) * (NRB + 2) + NRB + 1}.{m[2]}"
    raise KeyError(key)


torch.save({wan_vae_key(k): v.contiguous() for k, v in vae.state_dict().items()}, model_dir / "Wan2.1_VAE.pth")

# --- umT5 encoder, bf16, as models_t5_umt5-xxl-enc-bf16.pth names it -----------------------------------------
t5 = UMT5EncoderModel(UMT5Config(vocab_size=200, d_model=TEXT_DIM, d_kv=8, d_ff=40, num_layers=2, num_heads=3,
                                 relative_attention_num_buckets=32, relative_attention_max_distance=128,
                                 feed_forward_proj="gated-gelu", dropout_rate=0.0, is_encoder_decoder=False)).eval()
perturb(t5)


def wan_t5_key(key: str) -> str | None:
    if key == "encoder.embed_tokens.weight":
        return None  # tied to shared.weight; Wan stores one token embedding
    rules = [
        (r"^shared\.", "token_embedding."), (r"^encoder\.final_layer_norm\.", "norm."),
        (r"^encoder\.block\.(\d+)\.layer\.0\.layer_norm\.", r"blocks.\1.norm1."),
        (r"^encoder\.block\.(\d+)\.layer\.0\.SelfAttention\.relative_attention_bias\.",
         r"blocks.\1.pos_embedding.embedding."),
        (r"^encoder\.block\.(\d+)\.layer\.0\.SelfAttention\.", r"blocks.\1.attn."),
        (r"^encoder\.block\.(\d+)\.layer\.1\.layer_norm\.", r"blocks.\1.norm2."),
        (r"^encoder\.block\.(\d+)\.layer\.1\.DenseReluDense\.wi_0\.", r"blocks.\1.ffn.gate.0."),
        (r"^encoder\.block\.(\d+)\.layer\.1\.DenseReluDense\.wi_1\.", r"blocks.\1.ffn.fc1."),
        (r"^encoder\.block\.(\d+)\.layer\.1\.DenseReluDense\.wo\.", r"blocks.\1.ffn.fc2."),
    ]
    for pattern, replacement in rules:
        key = re.sub(pattern, replacement, key)
    return key


t5_state = {}
for k, v in t5.state_dict().items():
    name = wan_t5_key(k)
    if name is not None:
        t5_state[name] = v.to(torch.bfloat16).clone().contiguous()
torch.save(t5_state, model_dir / "models_t5_umt5-xxl-enc-bf16.pth")

for name in ["spiece.model", "tokenizer_config.json"]:
    shutil.copy(ROOT / "models" / "tiny-dwm" / "tokenizer" / name, model_dir / "google" / "umt5-xxl" / name)
(model_dir / "handtwin.json").write_text(json.dumps({
    "default_steps": 2, "default_guidance_scale": 6.0, "sample_width": 96, "sample_height": 64,
    "sample_frames": 17}, indent=1) + "\n")
(OUT / "README.md").write_text(
    "A tiny random DWM-Wan model in Wan's release layout, for tests only (`tools/make_tiny_wan_model.py`).\n"
    "Its outputs are noise: it checks loading, the LoRA merge and the sampling path, not quality.\n")
total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
print(f"wrote {OUT} ({total / 1e6:.1f} MB)")

# --- reference outputs of the networks as stored (bf16 values widened to f32), the LoRA merged in f32 ---------
# handtwin's loader must reproduce these from the folder: Wan's key names, the kohya LoRA, the widened patch
# embedding, the shapes read from the .pth files.
with torch.no_grad():
    merged = {k: v.float() for k, v in state.items()}
    for key in list(merged):
        module = "lora_unet__" + key[: -len(".weight")].replace(".", "_")
        if f"{module}.lora_down.weight" in lora:
            down = lora[f"{module}.lora_down.weight"].float()
            up = lora[f"{module}.lora_up.weight"].float()
            merged[key] = merged[key] + (lora[f"{module}.alpha"].item() / RANK) * (up @ down)
    merged["patch_embedding.weight"] = widened.to(torch.bfloat16).float()
    dwm = WanTransformer3DModel(num_attention_heads=HEADS, attention_head_dim=DIM // HEADS, in_channels=52,
                                out_channels=Z, text_dim=TEXT_DIM, freq_dim=32, ffn_dim=FFN, num_layers=LAYERS,
                                image_dim=1280, added_kv_proj_dim=DIM).eval()
    renamed = {wan_transformer_key(k): k for k in dwm.state_dict()}
    dwm.load_state_dict({renamed[k]: v for k, v in merged.items()})
    hidden = torch.randn(1, 52, 5, 4, 6, generator=gen)
    text = torch.cat([torch.randn(1, 9, TEXT_DIM, generator=gen), torch.zeros(1, 503, TEXT_DIM)], dim=1)
    timestep = torch.tensor([500.5])
    velocity = dwm(hidden, timestep, text, encoder_hidden_states_image=torch.zeros(1, 257, 1280),
                   return_dict=False)[0]
    video = torch.rand(1, 3, 5, 16, 16, generator=gen) * 2 - 1
    posterior = vae.encode(video).latent_dist
    t5_f32 = UMT5EncoderModel(t5.config).eval()
    t5_f32.load_state_dict({k: v.to(torch.bfloat16).float() for k, v in t5.state_dict().items()})
    ids = torch.tensor([[5, 17, 33, 8, 1, 0, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 0, 0, 0]])
    text_hidden = t5_f32(input_ids=ids, attention_mask=mask).last_hidden_state
save_file({"hidden_states": hidden, "encoder_hidden_states": text, "timestep": timestep, "velocity": velocity,
           "video": video, "vae_mean": posterior.mean, "vae_logvar": posterior.logvar,
           "input_ids": ids, "attention_mask": mask, "umt5_hidden": text_hidden},
          str(OUT / "reference.safetensors"))
print("wrote the reference outputs")
