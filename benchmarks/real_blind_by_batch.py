"""SDK macro-F1 on the real blind set, split by labelling batch (data/real_conv: batch 1 is the
first round's blind set), for one or more model directories, with the same rules.

    python benchmarks/real_blind_by_batch.py models/default [OTHER_MODEL_DIR ...]
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sklearn.metrics import f1_score  # noqa: E402

import sdk  # noqa: E402
from sdk.tasks import TASK_LABELS  # noqa: E402
from training import real_conv  # noqa: E402
from training.dataset import load  # noqa: E402

# The whole set, batch 1 (the first round's blind set), batches 1-4, and each later batch alone.
GROUPS = {"all": lambda b: True, "batch 1": lambda b: b == 1, "batches 2+": lambda b: b > 1,
          "batches 1-4": lambda b: b <= 4,  # the set model 0.4.0 was first measured on
          **{f"batch {n}": (lambda b, n=n: b == n) for n in sorted(real_conv.BATCHES) if n > 1}}


def predictions(checker: sdk.Checker, task: str, records: list) -> list:
    if task == "compliance":
        items = [{"utterance": r["utterance"], "context": r.get("context")} for r in records]
        return [res.label for res in checker.check_batch(items)]
    return [res.label for res in checker.emotion_batch([r["text"] for r in records])]


def main(model_dirs: list) -> None:
    batch = {c["conv_id"]: c["batch"] for c in real_conv.load()}
    for model_dir in model_dirs:
        checker = sdk.Checker(engine="onnx", model_dir=model_dir)
        for task in ("compliance", "emotion"):
            records = load(task, "real_blind")
            pred = predictions(checker, task, records)
            parts = []
            for name, keep in GROUPS.items():
                idx = [i for i, r in enumerate(records) if keep(batch[r["conv_id"]])]
                score = f1_score([records[i]["label"] for i in idx], [pred[i] for i in idx],
                                 labels=list(TASK_LABELS[task]), average="macro", zero_division=0)
                parts.append(f"{name} {score:.4f} (n={len(idx)})")
            print(f"{model_dir} {task}: " + " | ".join(parts))


if __name__ == "__main__":
    main(sys.argv[1:] or ["models/default"])
