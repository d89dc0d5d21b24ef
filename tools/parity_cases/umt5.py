"""Parity cases for `umt5_encoder`: transformers UMT5EncoderModel (the Wan variant's text encoder: every layer has its
own relative position bias, the attention mask removes padded keys) with tiny random weights."""

import pathlib

import torch
from transformers import UMT5Config, UMT5EncoderModel

from _common import perturb_norms, write_case

# name, config overrides, (batch, length), true lengths per row
CASES = [
    ("umt5_masked_2layers", dict(vocab_size=64, d_model=32, d_kv=8, d_ff=48, num_layers=2, num_heads=4,
                                 relative_attention_num_buckets=8, relative_attention_max_distance=20),
     (2, 16), [6, 13]),
    ("umt5_wan_length_512", dict(vocab_size=96, d_model=24, d_kv=6, d_ff=40, num_layers=3, num_heads=2,
                                 relative_attention_num_buckets=32, relative_attention_max_distance=128),
     (1, 512), [41]),
    ("umt5_unpadded", dict(vocab_size=50, d_model=16, d_kv=4, d_ff=24, num_layers=2, num_heads=4,
                           relative_attention_num_buckets=32, relative_attention_max_distance=128),
     (1, 9), [9]),
]


def make_cases(out_root: pathlib.Path) -> None:
    for index, (name, overrides, (b, length), lengths) in enumerate(CASES):
        gen = torch.Generator().manual_seed(3300 + index)
        torch.manual_seed(3300 + index)
        config = UMT5Config(dropout_rate=0.0, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
                            is_encoder_decoder=False, **overrides)
        model = UMT5EncoderModel(config).eval()
        perturb_norms(model, gen)
        with torch.no_grad():
            # Every layer's bias table distinct and large enough to matter.
            for block in model.encoder.block:
                table = block.layer[0].SelfAttention.relative_attention_bias.weight
                table.copy_(torch.randn(table.shape, generator=gen))
        ids = torch.randint(2, overrides["vocab_size"], (b, length), generator=gen)
        mask = torch.zeros(b, length, dtype=torch.int64)
        # As the Wan pipeline tokenises: the prompt, EOS (1), then padding (0) that the mask removes.
        for row, used in enumerate(lengths):
            ids[row, used - 1] = 1
            ids[row, used:] = 0
            mask[row, :used] = 1
        with torch.no_grad():
            hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
        # The embedding is tied (`shared` = `encoder.embed_tokens`): both keys, as separate copies.
        state = {k: v.clone() for k, v in model.state_dict().items()}
        state.setdefault("encoder.embed_tokens.weight", state["shared.weight"].clone())
        write_case(out_root / name, {"component": "umt5_encoder", "rtol": 1e-4}, config.to_dict(),
                   {"input_ids": ids.to(torch.int64), "attention_mask": mask, "last_hidden_state": hidden}, state)
