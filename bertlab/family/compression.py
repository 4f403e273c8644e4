"""Compression beyond distillation: dynamic int8 quantization, magnitude pruning and attention-head pruning.

ERNIE-Tiny lists three ways to shrink a BERT: distillation (``bertlab.distill``), quantization and pruning.

- **Dynamic int8 quantization** (Jacob et al. 2018 §2; the "dynamic" variant of PyTorch): every ``nn.Linear``
  keeps its weight as int8 with one scale per output row, ``W ≈ scale_r · W_int8``; at run time each input is
  quantized on the fly with its own range, the product is computed in integers and rescaled. Embeddings, the
  vocabulary projection (it reuses the word embeddings) and LayerNorms stay float32.
- **Unstructured magnitude pruning** (Han et al. 2015 §3; Gordon et al. 2020 for BERT): the smallest-|w|
  share of all encoder Linear weights, ranked together ("global L1"), is set to zero. The tensors stay dense,
  so a dense file is as large as before and a dense matmul is no faster: only a sparse format shrinks.
- **Attention-head pruning** (Michel et al. 2019, "Are Sixteen Heads Really Better than One?" §3–4): a head is
  scored by how much the loss reacts to a gate ξ_h multiplying its output, I_h = E_x |∂L(x)/∂ξ_h| at ξ = 1,
  normalised per layer (§4.1); the lowest heads are *removed*: their rows of W_Q, W_K, W_V and their columns of
  the output matrix go, so the model really shrinks and runs faster.

Every function returns a compressed *copy* and records what it did in ``model.compression_steps``;
``save_compressed`` writes safetensors + that list, ``load_compressed`` rebuilds the shapes by replaying it.
Per-layer head counts are not a ``BertConfig`` field: a head-pruned model is "the config + the heads removed",
the way transformers stores ``pruned_heads``.

Quantization uses PyTorch's own eager dynamic quantization (``torch.ao.quantization.quantize_dynamic``): its
fbgemm/x86 int8 kernels make a CPU faster without ``torch.compile``. torch 2.13 marks that namespace deprecated
in favour of torchao, whose ``quantize_(model, Int8DynamicActivationInt8WeightConfig())`` is a tensor subclass
tuned for ``torch.compile`` (in eager mode on CPUs its dispatch overhead can eat the int8 gain, pytorch/ao#1930).
bertlab therefore adds no dependency; the functions here raise a clear error should a later torch drop it.
"""

from __future__ import annotations

import contextlib
import copy
import statistics
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils import prune

from bertlab.config import IGNORE_INDEX, BertConfig
from bertlab.io import atomic_path, atomic_write_json
from bertlab.model import BertForPreTraining
from bertlab.model.attention import SelfAttention
from bertlab.model.bert import find_encoder
from bertlab.train.run import read_run_config, write_run_config

STEP_METHODS = ("int8-dynamic", "unstructured", "heads")
DENSE_FILE, SPARSE_FILE, STEPS_FILE = "model.safetensors", "model.sparse.safetensors", "compression.json"


def _bert(model: nn.Module) -> nn.Module:
    """The encoder inside ``model`` (one name to replace when a test hands in a toy encoder)."""
    return find_encoder(model)


def _with_step(model: nn.Module, step: dict) -> nn.Module:
    model.compression_steps = [*getattr(model, "compression_steps", []), step]
    return model


# --- dynamic int8 quantization -------------------------------------------------------------------------------------

def _torch_ao():
    try:
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    except ImportError as err:  # pragma: no cover - a future torch without eager quantization
        raise RuntimeError(f"this torch ({torch.__version__}) has no torch.ao.quantization.quantize_dynamic; "
                           f"install a torch that has it (2.13 does) to quantize") from err
    return quantize_dynamic, per_channel_dynamic_qconfig


@contextlib.contextmanager
def _quiet_deprecations() -> Iterator[None]:
    with warnings.catch_warnings():  # torch 2.13 warns on every call (see the module docstring)
        warnings.filterwarnings("ignore", message=r".*torch\.ao\.quantization is deprecated.*")
        warnings.filterwarnings("ignore", message=r".*quantize_per_.*deprecated.*")
        yield


class SeparateProjectionAttention(SelfAttention):
    """``SelfAttention`` whose Q, K, V are three modules called one by one: an int8 Linear has no float
    ``weight`` to stack into the one (3H, H) product that ``SelfAttention._qkv`` makes."""

    def _qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        B, T, _ = x.shape
        return tuple(proj(x).view(B, T, self.num_heads, self.head_dim).transpose(1, 2)  # 3 x (B, A, T, d)
                     for proj in (self.query, self.key, self.value))


def _int8_structure(model: nn.Module) -> nn.Module:
    quantize_dynamic, qconfig = _torch_ao()
    with _quiet_deprecations():  # one int8 scale per output row ("per channel"): most accurate for the same size
        model = quantize_dynamic(model, {nn.Linear: qconfig}, dtype=torch.qint8, inplace=True)
    for module in model.modules():
        if type(module) is SelfAttention:  # the same module and state, with Q, K, V called separately
            module.__class__ = SeparateProjectionAttention
    return model


def quantize_int8(model: nn.Module) -> nn.Module:
    """A copy with every ``nn.Linear`` replaced by a dynamic int8 Linear (weights int8 per output row)."""
    if not any(isinstance(m, nn.Linear) for m in model.modules()):
        raise ValueError("quantize_int8: the model has no nn.Linear left (is it quantized already?)")
    return _with_step(_int8_structure(copy.deepcopy(model).eval()), {"method": "int8-dynamic"})


def _is_int8(module: nn.Module) -> bool:
    return callable(getattr(module, "weight", None)) and hasattr(module, "_packed_params")


def _int8_modules(model: nn.Module) -> dict[str, nn.Module]:
    return {name: m for name, m in model.named_modules() if _is_int8(m)}


# --- unstructured magnitude pruning --------------------------------------------------------------------------------

def encoder_linears(model: nn.Module) -> dict[str, nn.Linear]:
    """The float Linear layers of the encoder stack (Q, K, V, attention output, FFN), by name."""
    encoder = _bert(model).encoder
    return {name: m for name, m in encoder.named_modules() if isinstance(m, nn.Linear)}


def prune_unstructured(model: nn.Module, sparsity: float) -> nn.Module:
    """A copy with the ``sparsity`` share of the encoder's Linear weights (smallest |w| over all of them
    together, ``torch.nn.utils.prune.global_unstructured`` with L1) set to exactly zero. Biases, embeddings,
    pooler and heads are kept."""
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), e.g. 0.5 for half the weights; got {sparsity!r}")
    model = copy.deepcopy(model)
    linears = list(encoder_linears(model).values())
    if not linears:
        raise ValueError("prune_unstructured: the encoder has no float nn.Linear (prune before quantizing)")
    params = [(m, "weight") for m in linears]
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=float(sparsity))
    for m, name in params:
        prune.remove(m, name)  # weight = weight_orig * mask, made permanent: a plain dense tensor with zeros
    return _with_step(model, {"method": "unstructured", "sparsity": float(sparsity)})


def sparsity_of(model: nn.Module) -> float:
    """The real share of exact zeros among the encoder's Linear weights."""
    weights = [m.weight for m in encoder_linears(model).values()]
    return float(sum(int((w == 0).sum()) for w in weights) / max(1, sum(w.numel() for w in weights)))


# --- attention heads: gates, scores, removal -----------------------------------------------------------------------

def _attention_blocks(model: nn.Module) -> nn.ModuleList:
    return _bert(model).encoder.attention_blocks  # one per distinct block (ALBERT shares them across layers)


@contextlib.contextmanager
def head_gates(model: nn.Module, gates: Sequence[torch.Tensor]) -> Iterator[Sequence[torch.Tensor]]:
    """Multiply each head's output by a gate ξ_h (Michel et al. §3.1) while inside the ``with``.

    ``gates[b]`` belongs to attention block b: shape (A,) for the whole batch or (B, A) per example. A forward
    pre-hook on the block's output matrix scales the concatenated heads (B, T, A·d) before they are mixed."""
    blocks = _attention_blocks(model)
    if len(gates) != len(blocks):
        raise ValueError(f"head_gates: {len(gates)} gate tensors for {len(blocks)} attention blocks")

    def hook_for(gate: torch.Tensor, heads: int):
        def scale(_module, inputs):
            context = inputs[0]
            B, T, width = context.shape
            g = gate.view(-1, 1, heads, 1).to(context.dtype)  # (1 or B, 1, A, 1)
            return ((context.view(B, T, heads, width // heads) * g).view(B, T, width),)
        return scale

    handles = [block.output.register_forward_pre_hook(hook_for(g, block.attention.num_heads))
               for block, g in zip(blocks, gates)]
    try:
        yield gates
    finally:
        for handle in handles:
            handle.remove()


def mask_heads(model: nn.Module, heads: Mapping[int, Iterable[int]]):
    """``with mask_heads(model, {block: [head, ...]}):`` the model with those heads' outputs multiplied by 0:
    the reference a pruned model must match."""
    gates = []
    for b, block in enumerate(_attention_blocks(model)):
        g = torch.ones(block.attention.num_heads)
        g[list(heads.get(b, ()))] = 0.0
        gates.append(g)
    return head_gates(model, gates)


def head_importance(model: nn.Module, batches: Iterable[Mapping[str, torch.Tensor]],
                    normalize: bool = True) -> list[torch.Tensor]:
    """Michel et al. (2019) §3.3: I_h = mean over examples of |∂L/∂ξ_h|, L = the example's masked-LM loss
    (summed over its masked tokens), one score tensor (A,) per attention block; ``normalize`` divides each
    block's scores by their L2 norm (§4.1), which makes blocks comparable for a global ranking.

    One backward per batch gives every example's gradient: each example has its own gate row (B, A)."""
    was_training = model.training
    model.eval()
    totals = [torch.zeros(block.attention.num_heads) for block in _attention_blocks(model)]
    examples = 0
    for batch in batches:
        B = batch["input_ids"].shape[0]
        gates = [torch.ones(B, t.numel(), requires_grad=True) for t in totals]
        with head_gates(model, gates):
            out = model(input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask"),
                        token_type_ids=batch.get("token_type_ids"), labels=batch["labels"])
            n = int((batch["labels"] != IGNORE_INDEX).sum())
            grads = torch.autograd.grad(out.mlm_loss * n, gates)  # each (B, A): ∂L_example / ∂ξ_h
        for total, g in zip(totals, grads):
            total += g.abs().sum(0)
        examples += B
    model.train(was_training)
    if not examples:
        raise ValueError("head_importance needs at least one batch")
    scores = [t / examples for t in totals]
    return [s / s.norm().clamp_min(1e-12) for s in scores] if normalize else scores


def head_weight_norms(model: nn.Module) -> list[torch.Tensor]:
    """A data-free score: the L2 norm of each head's slice of W_Q, W_K, W_V (rows) and W_O (columns)."""
    scores = []
    for block in _attention_blocks(model):
        a = block.attention
        A, d = a.num_heads, a.head_dim
        squares = sum(lin.weight.detach().view(A, d, -1).pow(2).sum((1, 2)) for lin in (a.query, a.key, a.value))
        squares = squares + block.output.weight.detach().view(-1, A, d).pow(2).sum((0, 2))
        scores.append(squares.sqrt())
    return scores


def select_heads(scores: Sequence[torch.Tensor], fraction: float, keep_per_block: int = 1) -> dict[int, list[int]]:
    """The ``fraction`` of all heads with the lowest scores, ranked globally (Michel et al. §4), never taking a
    block below ``keep_per_block`` heads (a block with no head left would be a different architecture)."""
    total = sum(s.numel() for s in scores)
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), e.g. 0.25 to remove a quarter of the heads; got {fraction!r}")
    wanted = round(fraction * total)
    ranked = sorted((float(s[h]), b, h) for b, s in enumerate(scores) for h in range(s.numel()))
    chosen: dict[int, list[int]] = {}
    for _, b, h in ranked:
        if sum(map(len, chosen.values())) == wanted:
            break
        if scores[b].numel() - len(chosen.get(b, [])) > keep_per_block:
            chosen.setdefault(b, []).append(h)
    return {b: sorted(hs) for b, hs in sorted(chosen.items())}


def _keep_rows(linear: nn.Linear, index: torch.Tensor, dim: int) -> nn.Linear:
    """A smaller Linear with only rows (dim 0: outputs) or columns (dim 1: inputs) ``index`` of the weight."""
    weight = linear.weight.detach().index_select(dim, index)
    out_features, in_features = weight.shape
    new = nn.Linear(in_features, out_features, bias=linear.bias is not None)
    with torch.no_grad():
        new.weight.copy_(weight)
        if linear.bias is not None:
            new.bias.copy_(linear.bias if dim == 1 else linear.bias.index_select(0, index))
    return new


def _remove_heads(model: nn.Module, heads: Mapping[int, Iterable[int]]) -> nn.Module:
    blocks = _attention_blocks(model)
    for b, drop in heads.items():
        if not 0 <= int(b) < len(blocks):
            raise ValueError(f"prune_heads: block {b} does not exist (the model has {len(blocks)} attention blocks)")
        block = blocks[int(b)]
        a = block.attention
        drop = sorted(set(int(h) for h in drop))
        if any(not 0 <= h < a.num_heads for h in drop):
            raise ValueError(f"prune_heads: block {b} has heads 0..{a.num_heads - 1}, got {drop}")
        keep = [h for h in range(a.num_heads) if h not in drop]
        if not keep:
            raise ValueError(f"prune_heads: removing all {a.num_heads} heads of block {b}; keep at least one")
        # rows of head h in W_Q / W_K / W_V (and columns of W_O) are h·d … (h+1)·d − 1
        index = torch.cat([torch.arange(h * a.head_dim, (h + 1) * a.head_dim) for h in keep])
        a.query, a.key, a.value = (_keep_rows(lin, index, 0) for lin in (a.query, a.key, a.value))
        block.output = _keep_rows(block.output, index, 1)  # (H, A'·d)
        a.num_heads = len(keep)
    return model


def prune_heads(model: nn.Module, heads: Mapping[int, Iterable[int]]) -> nn.Module:
    """A copy with heads ``{block: [head, ...]}`` (numbered as in ``model``) removed for good."""
    if any(not isinstance(m, nn.Linear) for b in _attention_blocks(model)
           for m in (b.attention.query, b.output)):
        raise ValueError("prune_heads: prune heads before quantizing (int8 Linears cannot be sliced)")
    heads = {int(b): sorted(int(h) for h in hs) for b, hs in heads.items() if hs}
    return _with_step(_remove_heads(copy.deepcopy(model), heads), {"method": "heads", "heads": heads})


def heads_left(model: nn.Module) -> list[int]:
    return [block.attention.num_heads for block in _attention_blocks(model)]


# --- counting, saving, loading -------------------------------------------------------------------------------------

def count_weights(model: nn.Module) -> dict[str, int]:
    """``total`` stored numbers (float parameters + int8 weights + their biases) and how many are non-zero."""
    tensors = [p.detach() for p in model.parameters()]
    for m in _int8_modules(model).values():
        tensors.append(m.weight().int_repr())
        if m.bias() is not None:
            tensors.append(m.bias())
    return {"total": sum(t.numel() for t in tensors), "nonzero": sum(int((t != 0).sum()) for t in tensors)}


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Everything as plain tensors safetensors can store: int8 Linears as weight_int8 / weight_scale /
    weight_zero_point / bias (the packed fbgemm objects are not portable)."""
    int8 = _int8_modules(model)
    state = {k: v for k, v in model.state_dict().items()
             if isinstance(v, torch.Tensor) and not any(k.startswith(name + ".") for name in int8)}
    for name, m in int8.items():
        w = m.weight()  # a per-channel quantized tensor (out, in)
        state[f"{name}.weight_int8"] = w.int_repr()
        state[f"{name}.weight_scale"] = w.q_per_channel_scales().float()
        state[f"{name}.weight_zero_point"] = w.q_per_channel_zero_points().to(torch.int32)
        if m.bias() is not None:
            state[f"{name}.bias"] = m.bias()
    return {k: v.detach().contiguous().cpu() for k, v in state.items()}


def _sparse_state(state: dict[str, torch.Tensor], names: Iterable[str]) -> dict[str, torch.Tensor]:
    """``names`` stored in CSR (compressed sparse rows): for each row, where its non-zeros start (int32), then
    their column indices (int16 when they fit) and values. 4 bytes per weight dense, 6 per non-zero in CSR:
    the file only gets smaller above 1/3 sparsity."""
    out = dict(state)
    for name in names:
        w = out.pop(name)  # (rows, cols)
        nonzero = w != 0
        rows = torch.zeros(w.shape[0] + 1, dtype=torch.int32)
        rows[1:] = nonzero.sum(1).cumsum(0)  # row r's non-zeros are values[rows[r]:rows[r + 1]]
        cols = nonzero.nonzero()[:, 1]  # row-major order, as CSR wants
        out[f"{name}.csr_rows"] = rows
        out[f"{name}.csr_cols"] = cols.to(torch.int16 if w.shape[1] <= 32767 else torch.int32)
        out[f"{name}.csr_values"] = w[nonzero]
        out[f"{name}.csr_shape"] = torch.tensor(w.shape, dtype=torch.int64)
    return out


def _dense_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse of ``_sparse_state`` (tensors without ``.csr_`` parts pass through)."""
    out = {k: v for k, v in state.items() if ".csr_" not in k}
    for key in [k for k in state if k.endswith(".csr_rows")]:
        name = key[: -len(".csr_rows")]
        rows, values = state[key].long(), state[f"{name}.csr_values"]
        dense = torch.zeros(tuple(state[f"{name}.csr_shape"].tolist()), dtype=values.dtype)
        row_of_each = torch.repeat_interleave(torch.arange(len(rows) - 1), rows.diff())
        dense[row_of_each, state[f"{name}.csr_cols"].long()] = values
        out[name] = dense
    return out


def save_compressed(model: nn.Module, folder: str | Path, tokenizer_file: str | Path | None = None,
                    sparse: bool | None = None, **info) -> dict[str, int]:
    """Write ``folder/{config.json, compression.json, model.safetensors[, model.sparse.safetensors],
    tokenizer.json}``; returns the weights files' real sizes in bytes. ``sparse`` (default: when pruned
    unstructured) adds a CSR copy of the encoder weights, the only way such a model gets smaller on disk."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    steps = list(getattr(model, "compression_steps", []))
    state = _state(model)
    state = {k: v for k, v in state.items() if not k.startswith("projections.")}  # a student's W_e/W_h
    write_run_config(folder, "compressed", model.config, "BertForPreTraining", compression=steps, **info)
    atomic_write_json(folder / STEPS_FILE, {"steps": steps})
    files = {DENSE_FILE: state}
    if sparse is None:
        sparse = any(s["method"] == "unstructured" for s in steps)
    if sparse:
        prefix = "bert.encoder." if any(k.startswith("bert.encoder.") for k in state) else "encoder."
        names = [prefix + n + ".weight" for n in encoder_linears(model)]
        files[SPARSE_FILE] = _sparse_state(state, [n for n in names if n in state])
    else:
        (folder / SPARSE_FILE).unlink(missing_ok=True)
    for name, tensors in files.items():
        with atomic_path(folder / name) as tmp:
            save_file(tensors, str(tmp))
    if tokenizer_file is not None:
        (folder / "tokenizer.json").write_bytes(Path(tokenizer_file).read_bytes())
    return {name: (folder / name).stat().st_size for name in files}


def load_compressed(folder: str | Path, weights: str = "dense") -> nn.Module:
    """The model saved by ``save_compressed`` (eval mode): the original shape is built from config.json,
    the steps are replayed to get the compressed shapes, then the tensors are loaded.
    ``weights="sparse"`` reads the CSR file instead of the dense one (same numbers)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if weights not in ("dense", "sparse"):
        raise ValueError(f"weights must be 'dense' or 'sparse', got {weights!r}")
    config = read_run_config(folder)
    path = folder / (DENSE_FILE if weights == "dense" else SPARSE_FILE)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; save_compressed writes the sparse file only for "
                                f"unstructured pruning (or with sparse=True)")
    model = BertForPreTraining(BertConfig.from_dict(config["model"])).eval()
    steps = config.get("compression", [])
    for step in steps:
        if step.get("method") not in STEP_METHODS:
            raise ValueError(f"{folder}: unknown compression step {step!r}; known: {', '.join(STEP_METHODS)}")
        if step["method"] == "heads":
            _remove_heads(model, {int(b): hs for b, hs in step["heads"].items()})
        elif step["method"] == "int8-dynamic":
            _int8_structure(model)
    state = _dense_state(load_file(str(path)))
    expected = set(_state(model))  # the names and (for int8) the split of what save_compressed wrote
    if set(state) != expected:
        missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
        raise ValueError(f"{path} does not fit the model its config.json describes: missing {missing[:4]}, "
                         f"unexpected {extra[:4]}")
    with _quiet_deprecations():
        for name, m in _int8_modules(model).items():
            qweight = torch._make_per_channel_quantized_tensor(
                state.pop(f"{name}.weight_int8"), state.pop(f"{name}.weight_scale").double(),
                state.pop(f"{name}.weight_zero_point").long(), 0)
            m.set_weight_bias(qweight, state.pop(f"{name}.bias", None))
    # the rest in place (load_state_dict would also ask the int8 modules for keys they never need)
    own = model.state_dict()
    with torch.no_grad():
        for key, tensor in state.items():
            if own[key].shape != tensor.shape:
                raise ValueError(f"{path} does not fit the model its config.json describes: {key} has shape "
                                 f"{tuple(tensor.shape)}, the model {tuple(own[key].shape)}")
            own[key].copy_(tensor)
    model.compression_steps = steps
    return model


# --- CPU latency ---------------------------------------------------------------------------------------------------

def cpu_latency(models: Mapping[str, nn.Module], batch: Mapping[str, torch.Tensor], repeats: int = 10,
                warmup: int = 2) -> dict[str, float]:
    """Median ms of one inference forward (encoder + MLM at the masked positions + NSP) over ``repeats``
    rounds. The models take turns within each round, so a busy machine slows them all alike."""
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids", "labels") if k in batch}
    times: dict[str, list[float]] = {name: [] for name in models}
    with torch.inference_mode():
        for i in range(warmup + repeats):
            for name, model in models.items():
                start = time.perf_counter()
                model(**inputs)
                if i >= warmup:
                    times[name].append(1000 * (time.perf_counter() - start))
    return {name: statistics.median(t) for name, t in times.items()}


__all__ = ["quantize_int8", "prune_unstructured", "sparsity_of", "encoder_linears", "head_gates", "mask_heads",
           "head_importance", "head_weight_norms", "select_heads", "prune_heads", "heads_left", "count_weights",
           "save_compressed", "load_compressed", "cpu_latency"]
