"""Makes tests/fixtures/tokenizer: a small SentencePiece Unigram model trained here, and the ids CogVideoX's
slow T5Tokenizer gives for some prompts, padded to 32 as CogVideoX pads to 226.

The slow T5Tokenizer (legacy mode, as CogVideoX loads it) is the SentencePiece library's encode, truncated to
max_length - 1, then </s>, then <pad>; the reference here calls the SentencePiece library directly, because
transformers 5 builds T5Tokenizer on the `tokenizers` library instead.

    python tools/make_tokenizer_fixture.py
"""
import io
import json
import pathlib

import sentencepiece as spm

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "tokenizer"
TEXT = """A hand reaches for the top drawer of the wooden dresser and pulls it open.
The right hand grasps the white mug on the table and lifts it.
Two hands push the cushion onto the couch, then let go.
The left hand opens the cabinet door; the shelf inside is empty.
Someone picks up a red apple from the bowl and puts it down again.
A person closes the drawer slowly with the palm of the right hand.
""" * 20

OUT.mkdir(parents=True, exist_ok=True)
model = io.BytesIO()
spm.SentencePieceTrainer.train(
    sentence_iterator=iter(TEXT.splitlines()),
    model_writer=model,
    vocab_size=70,
    model_type="unigram",
    pad_id=0,
    eos_id=1,
    unk_id=2,
    bos_id=-1,
    pad_piece="<pad>",
    eos_piece="</s>",
    unk_piece="<unk>",
    normalization_rule_name="nmt_nfkc",
)
(OUT / "spiece.model").write_bytes(model.getvalue())
processor = spm.SentencePieceProcessor(model_file=str(OUT / "spiece.model"))
prompts = [
    "Open the top drawer.",
    "The right hand grasps the white mug and lifts it off the table.",
    "  extra   spaces   and Ünïcödé ｆｕｌｌｗｉｄｔｈ  ",
    "",
    "zebra xylophone quartz",  # unseen words: unknown characters
    "a very long prompt " * 12,
]
cases = []
for prompt in prompts:
    ids = processor.encode(prompt)[: 32 - 1] + [processor.piece_to_id("</s>")]
    ids += [processor.piece_to_id("<pad>")] * (32 - len(ids))
    cases.append({"prompt": prompt, "ids": ids})
(OUT / "expected.json").write_text(json.dumps(cases, indent=1, ensure_ascii=False) + "\n")
print(f"wrote {OUT}")
