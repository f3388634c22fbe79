"""WordPiece tokenizer with the bert-base-chinese vocabulary, saved so checkpoints load with AutoTokenizer.

    python -m training.tokenizer --out DIR [--vocab vocab.txt] [--max-len 128]

Writes ``tokenizer.json`` (fast), ``vocab.txt``, ``tokenizer_config.json`` and ``special_tokens_map.json``
and checks that the saved tokenizer encodes sample sentences exactly like the reference
pure-Python BERT tokenizer over the same vocab.txt (lower-casing, one token per Chinese character).
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from transformers import AutoTokenizer, BertTokenizer

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VOCAB = REPO_ROOT.parent / "shared" / "data" / "bert_base_chinese_vocab" / "vocab.txt"
if not DEFAULT_VOCAB.is_file():  # a checkout without ../shared: the shipped base carries the same file (same sha256)
    DEFAULT_VOCAB = REPO_ROOT / "models" / "base" / "csqa-bert-dialog" / "vocab.txt"
SPECIAL_TOKENS = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
                  "cls_token": "[CLS]", "mask_token": "[MASK]"}
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json")

SAMPLE_SENTENCES = (
    "您好，很高兴为您服务！请问有什么可以帮您？",
    "我的iPhone 13 Pro订单[订单x]怎么还没发货？？？",
    "ＡＢＣ全角字母和１２３数字，Hello World",
    "非常抱歉，给您带来不便了。感谢您的耐心等待～",
    "退款500元到账了吗 how long does it take",
    "什么破公司！我要投诉你们😡",
    "  多余   空格\t和换行\n  ",
)


def build_tokenizer(vocab: Path = DEFAULT_VOCAB, max_len: int = 128) -> BertTokenizer:
    return BertTokenizer(str(vocab), do_lower_case=True, tokenize_chinese_chars=True, strip_accents=None,
                         model_max_length=max_len, **SPECIAL_TOKENS)


def save_tokenizer(out_dir: Path, vocab: Path = DEFAULT_VOCAB, max_len: int = 128) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    build_tokenizer(vocab, max_len).save_pretrained(str(out_dir))
    # transformers 5 writes only tokenizer.json + tokenizer_config.json; older loaders and other
    # toolkits (UER, ONNX runtimes) expect vocab.txt and special_tokens_map.json as well
    shutil.copyfile(vocab, out_dir / "vocab.txt")
    (out_dir / "special_tokens_map.json").write_text(json.dumps(SPECIAL_TOKENS, indent=2) + "\n", encoding="utf-8")
    return [out_dir / name for name in TOKENIZER_FILES]


def mismatches_with_reference(tokenizer_dir: Path, sentences=SAMPLE_SENTENCES) -> list[str]:
    """Sentences whose ids differ between the saved fast tokenizer and the pure-Python reference."""
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

    saved = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    reference = BertTokenizerLegacy(str(tokenizer_dir / "vocab.txt"), do_lower_case=True)
    return [s for s in sentences if saved(s)["input_ids"] != reference(s)["input_ids"]]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--vocab", type=Path, default=DEFAULT_VOCAB)
    parser.add_argument("--max-len", type=int, default=128)
    args = parser.parse_args(argv)
    for path in save_tokenizer(args.out, args.vocab, args.max_len):
        print("wrote", path)
    bad = mismatches_with_reference(args.out)
    if bad:
        raise SystemExit(f"tokenizer differs from the reference BERT tokenizer on: {bad}")
    print(f"encoding matches the reference BERT tokenizer on {len(SAMPLE_SENTENCES)} sample sentences")


if __name__ == "__main__":
    main()
