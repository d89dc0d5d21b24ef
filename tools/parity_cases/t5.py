"""Parity cases for `t5_encoder`: transformers T5EncoderModel (v1.1 layout: gated GELU, no tied head) with tiny
random weights, run with no attention mask as CogVideoX does."""

import pathlib

import torch
from transformers import T5Config, T5EncoderModel

from _common import perturb_norms, write_case

CASES = [
    ("t5_gated_gelu_2layers", dict(vocab_size=64, d_model=32, d_kv=8, d_ff=48, num_layers=2, num_heads=4,
                                   relative_attention_num_buckets=8, relative_attention_max_distance=20,
                                   feed_forward_proj="gated-gelu"), (2, 12)),
    ("t5_long_padded", dict(vocab_size=80, d_model=24, d_kv=6, d_ff=40, num_layers=2, num_heads=2,
                            relative_attention_num_buckets=32, relative_attention_max_distance=128,
                            feed_forward_proj="gated-gelu"), (1, 226)),
]


def make_cases(out_root: pathlib.Path) -> None:
    for index, (name, overrides, (b, length)) in enumerate(CASES):
        gen = torch.Generator().manual_seed(3000 + index)
        torch.manual_seed(3000 + index)
        config = T5Config(dropout_rate=0.0, tie_word_embeddings=False, is_encoder_decoder=False, **overrides)
        model = T5EncoderModel(config).eval()
        perturb_norms(model, gen)
        ids = torch.randint(2, overrides["vocab_size"], (b, length), generator=gen)
        # Like the CogVideoX tokenizer output: a few tokens, EOS (1), then padding (0) that is still attended to.
        for row in range(b):
            used = min(length - 1, 5 + 3 * row)
            ids[row, used] = 1
            ids[row, used + 1:] = 0
        with torch.no_grad():
            hidden = model(input_ids=ids).last_hidden_state
        # encoder.embed_tokens is tied to shared; save_pretrained keeps only `shared.weight`, and so do we.
        state = {k: v for k, v in model.state_dict().items() if k != "encoder.embed_tokens.weight"}
        write_case(out_root / name, {"component": "t5_encoder", "rtol": 1e-4}, config.to_dict(),
                   {"input_ids": ids.to(torch.int64), "last_hidden_state": hidden}, state)
