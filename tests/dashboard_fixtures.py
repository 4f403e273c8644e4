"""Small but real run folders for the dashboard's tests and screenshots, made in seconds without a corpus.

``build_runs(root)`` trains with the real loop on ``train_helpers.synthetic_batch`` (vocabulary 120) and writes:

    teacher/             pretrain, L4 H32 A4, finished, two checkpoints + model.safetensors
    student/             distill (TinyBERT, bertlab.distill), L2 H32 A2, "teacher": <teacher path>,
                         layer map [0, 2, 4]; eval lines carry teacher_mlm_acc / teacher_nsp_acc
    experiment/albert/   pretrain, ALBERT-style (E16, all layers shared), nested one level down
    broken/              a bad JSON line in metrics.jsonl, no weights at all, status interrupted
    experiment/corrupt/  config.json that is not JSON

plus a ``tokenizer.json`` in each: a WordPiece tokenizer over a fixed 120-entry vocabulary, built with the
``tokenizers`` library, special tokens [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4.
"""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.train_helpers import V, synthetic_batch  # noqa: E402

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ("the a an cat dog bird sat ran flew on in under over mat tree house park river city king queen man "
         "woman child it he she they was is were very happy tired big small old new red green and but of to "
         "with his her their day night sun moon water food book read ate saw loves likes went home school "
         "today after before good bad . , ! ? ' -").split()
LETTERS = list("abcdefghijklmnopqrstuvwxyz")


def vocabulary() -> dict[str, int]:
    """Exactly V = 120 entries: specials, words, single letters, then ``##`` continuations of letters."""
    tokens = SPECIALS + WORDS + [c for c in LETTERS if c not in WORDS]
    tokens += ["##" + c for c in LETTERS][: V - len(tokens)]
    assert len(tokens) == V and len(set(tokens)) == V, len(tokens)
    return {t: i for i, t in enumerate(tokens)}


def make_tokenizer():
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tokenizer = Tokenizer(models.WordPiece(vocabulary(), unk_token="[UNK]", continuing_subword_prefix="##",
                                           max_input_chars_per_word=100))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    tokenizer.add_special_tokens(SPECIALS)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    return tokenizer


def model_config(**kw):
    from bertlab.config import get_preset

    base = dict(vocab_size=V, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                max_position_embeddings=64)
    base.update(kw)
    return get_preset("tiny", **base)


def _settings(steps: int):
    from bertlab.train.loop import TrainSettings

    return TrainSettings(steps=steps, batch_size=8, learning_rate=3e-3, warmup=2, log_every=2, eval_every=6,
                         checkpoint_every=6, keep_checkpoints=2, progress=False, device="cpu", precision="fp32")


def _pretrain(run_dir: Path, config, steps: int, seed: int = 0):
    from bertlab.model import BertForPreTraining
    from bertlab.train.loop import train
    from bertlab.train.pretraining import PretrainingTask
    from bertlab.train.run import write_run_config

    torch.manual_seed(seed)
    model = BertForPreTraining(config)
    write_run_config(run_dir, "pretrain", config, data={"corpus": "synthetic (tests/train_helpers.py)"},
                     train={"steps": steps, "batch_size": 8})
    make_tokenizer().save(str(run_dir / "tokenizer.json"))
    task = PretrainingTask(eval_batches=[synthetic_batch(999)], unigram_token_id=50)
    train(model, task, synthetic_batch, _settings(steps), run_dir)
    return model.eval()


def _distill(run_dir: Path, teacher, teacher_dir: Path, steps: int):
    from bertlab.distill.trainer import DistillationTask, make_student
    from bertlab.train.loop import train
    from bertlab.train.run import write_run_config

    torch.manual_seed(1)
    layer_map = [0, 2, 4]
    student = make_student(model_config(num_hidden_layers=2, num_attention_heads=2), teacher, "tinybert")
    write_run_config(run_dir, "distill", student.config, model_class="BertForDistillation",
                     model_kwargs=student.model_kwargs, teacher=str(teacher_dir),
                     distill={"method": "tinybert", "layer_map": layer_map}, train={"steps": steps})
    make_tokenizer().save(str(run_dir / "tokenizer.json"))
    task = DistillationTask(teacher, student, "tinybert", layer_map=layer_map, eval_batches=[synthetic_batch(999)])
    train(student, task, synthetic_batch, _settings(steps), run_dir)


def build_runs(root: str | Path, steps: int = 12) -> Path:
    """Create the run folders listed in the module docstring under ``root`` (about 5 s on two CPU cores)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    teacher_dir = root / "teacher"
    teacher = _pretrain(teacher_dir, model_config(num_hidden_layers=4, num_attention_heads=4), steps)
    _distill(root / "student", teacher, teacher_dir, steps)
    _pretrain(root / "experiment" / "albert", model_config(embedding_size=16, share_layers="all",
                                                           num_hidden_layers=4), steps, seed=2)
    # broken: a valid config, a metrics file with one bad line, no weights at all
    broken = root / "broken"
    broken.mkdir()
    from bertlab.train.run import write_run_config

    write_run_config(broken, "pretrain", model_config())
    make_tokenizer().save(str(broken / "tokenizer.json"))
    lines = [json.dumps({"split": "train", "step": s, "loss": 5.0 - 0.1 * s, "mlm_acc": 0.01 * s}) for s in (2, 4)]
    lines.insert(1, '{"split": "train", "step": 3, "loss": ')  # a writer killed mid-line, then resumed
    (broken / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    (broken / "status.json").write_text(json.dumps({"status": "interrupted", "step": 4, "total_steps": 100,
                                                    "updated": time.time()}))
    corrupt = root / "experiment" / "corrupt"
    corrupt.mkdir(parents=True)
    (corrupt / "config.json").write_text('{"kind": "pretrain", "model": {')
    return root


@functools.lru_cache(maxsize=None)
def shared_runs() -> Path:
    """One set of demo runs per test process (read-only for the tests that share it), removed at exit."""
    tmp = Path(tempfile.mkdtemp(prefix="bertlab-dashboard-runs-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    return build_runs(tmp / "runs")


def mark_running(run_dir: str | Path) -> None:
    """Make a finished run look like one still training (status.json "running", updated now)."""
    path = Path(run_dir) / "status.json"
    status = json.loads(path.read_text())
    status.update(status="running", updated=time.time())
    path.write_text(json.dumps(status))


if __name__ == "__main__":
    out = build_runs(sys.argv[1] if len(sys.argv) > 1 else "runs-demo")
    print(f"built dashboard demo runs in {out}")
