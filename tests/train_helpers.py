"""Synthetic pre-training batches and a tiny model for fast training-loop tests (no corpus needed)."""

import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from bertlab.config import get_preset
from bertlab.model import BertForPreTraining

V, T = 120, 16


def tiny_model(seed: int = 0, **kw) -> BertForPreTraining:
    torch.manual_seed(seed)
    return BertForPreTraining(get_preset("tiny", vocab_size=V, hidden_size=32, num_attention_heads=2,
                                         intermediate_size=64, max_position_embeddings=T, **kw))


def synthetic_batch(step: int, batch_size: int = 8, fixed: bool = False) -> dict:
    """A learnable toy: token t+1 follows t; NSP label = whether the second half continues the first."""
    g = torch.Generator().manual_seed(0 if fixed else 1000 + step)
    start = torch.randint(5, V - T, (batch_size, 1), generator=g)
    ids = start + torch.arange(T)
    nsp = torch.randint(0, 2, (batch_size,), generator=g)
    ids[nsp == 1, T // 2:] = torch.randint(5, V, (int(nsp.sum()), T // 2), generator=g)
    labels = torch.full_like(ids, -100)
    chosen = torch.rand(ids.shape, generator=g) < 0.15
    chosen[:, 1] = True
    labels[chosen] = ids[chosen]
    inputs = ids.masked_fill(chosen, 4)
    mask = torch.ones_like(ids)
    mask[0, -3:] = 0
    labels[0, -3:] = -100
    types = torch.zeros_like(ids)
    types[:, T // 2:] = 1
    return {"input_ids": inputs, "attention_mask": mask, "token_type_ids": types, "labels": labels,
            "next_sentence_label": nsp}


# gloo can abort a process at exit, after its work is done ("terminate called without an active exception",
# SIGABRT): seen once in ~20 runs of the DDP tests on a loaded 2-core machine, in torch's teardown.
GLOO_EXIT_ABORT = "terminate called without an active exception"


def run_torchrun(script, nproc: int = 2, timeout: int = 300):
    """``python -m torch.distributed.run --standalone --nproc_per_node N script`` on CPU threads of 1.

    A run that fails only with gloo's exit abort is started once more; any other failure, or the abort
    twice, is returned as is (the caller asserts the return code and prints stderr)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
               str(script)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    if proc.returncode != 0 and GLOO_EXIT_ABORT in proc.stderr:
        proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    return proc


def assert_ddp_matches(single: torch.nn.Module, ddp_script: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run ``ddp_script`` (a template with {tests} and {out}) under torchrun with two processes and check that the
    weights it saves to {out} equal ``single``'s, trained in one process; returns the torchrun process."""
    script = tmp_path / "ddp.py"
    script.write_text(ddp_script.format(tests=str(Path(__file__).parent), out=str(tmp_path / "ddp.safetensors")))
    proc = run_torchrun(script)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp = load_file(str(tmp_path / "ddp.safetensors"))
    for key, value in single.state_dict().items():
        assert torch.allclose(value, ddp[key], atol=1e-5), key
    return proc
