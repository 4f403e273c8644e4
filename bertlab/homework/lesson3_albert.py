"""Lesson 3 checks: ALBERT's factorized embedding, cross-layer sharing, and why sharing saves no time (ALBERT §3.1)."""

from __future__ import annotations

from bertlab.config import BertConfig
from bertlab.homework.grading import Report, hidden_cases, register
from bertlab.homework.helpers import diagnose
from bertlab.model import BertModel

SHARE_MODES = ("none", "all", "attention", "ffn")


def _number(value, r: Report, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "item"):
        r.fail(f"{what} should be a number, got {type(value).__name__} {value!r:.60}")
    value = value.item() if hasattr(value, "item") else value
    if float(value) != int(value):
        r.fail(f"{what} should be a whole number of parameters, got {value}")
    return int(value)


@register("embedding_params", 3, "factorized embedding parameters",
          "my_embedding_params(V, E, H) -> int")
def check_embedding_params(fn, r: Report) -> None:
    factorized = hidden_cases([(30000, 128, 768), (8192, 64, 128), (30000, 128, 4096), (21128, 312, 1024)],
                              lambda g: (g.randrange(1000, 50000), g.choice((16, 64, 128)), g.choice((256, 512))))
    tied = hidden_cases([(30000, 768, 768), (8192, 128, 128)],
                        lambda g: (g.randrange(1000, 50000), *[g.choice((96, 160))] * 2), 2)
    got = {case: r.call(fn, *case) for case in factorized + tied}

    @r.rule("returns a whole number", required=True)
    def _():
        for case, value in got.items():
            _number(value, r, f"my_embedding_params{case}")

    @r.rule("E < H: V×E + E×H (the V×E table plus the E×H projection)")
    def _():
        for V, E, H in factorized:
            value = _number(got[(V, E, H)], r, "the count")
            want = V * E + E * H
            if value != want:
                hint = diagnose(value, {
                    "that is V×E alone: the E×H projection up to the hidden size is missing.": V * E,
                    "that is V×H, BERT's table: with E < H the table has width E.": V * H,
                    "that includes the projection's bias (H); the formula counts the two matrices only.":
                        V * E + E * H + H,
                    "that multiplies V×E×H: the factorization ADDS the two matrices' sizes.": V * E * H,
                    "that is V×E + V×H: the projection maps E to H, so it is E×H.": V * E + V * H,
                }, rel=0) or "write V * E + E * H."
                r.fail(f"for V={V:,}, E={E}, H={H}: expected {want:,}, got {value:,}; {hint}")

    @r.rule("E = H: V×H, BERT's embedding (no projection)")
    def _():
        for V, E, H in tied:
            value = _number(got[(V, E, H)], r, "the count")
            want = V * H
            if value != want:
                hint = diagnose(value, {
                    "with E = H there is no projection (BERT sums the tables at width H), so no E×H term.":
                        V * E + E * H}, rel=0) or ""
                r.fail(f"for V={V:,}, E=H={H}: expected {want:,}, got {value:,}. {hint}")

    @r.rule("the saving of ALBERT-base's factorization matches the paper (23.0M -> 3.9M)")
    def _():
        bert, albert = _number(got[(30000, 768, 768)], r, "V×H"), _number(got[(30000, 128, 768)], r, "V×E + E×H")
        if not (abs(bert / 1e6 - 23.0) < 0.05 and abs(albert / 1e6 - 3.94) < 0.05):
            r.fail(f"got {bert / 1e6:.2f}M for E = H = 768 and {albert / 1e6:.2f}M for E = 128, H = 768; "
                   f"the paper's numbers are 23.0M and 3.9M")


def _reference_encoder(H: int, I: int, L: int, share: str) -> int:  # noqa: E741
    attention = 4 * (H * H + H) + 2 * H  # Q, K, V, output projections with biases + LayerNorm
    ffn = (H * I + I) + (I * H + H) + 2 * H  # H->I, I->H with biases + LayerNorm
    n_att = 1 if share in ("all", "attention") else L
    n_ffn = 1 if share in ("all", "ffn") else L
    return n_att * attention + n_ffn * ffn


def _counted(H: int, I: int, L: int, share: str) -> int:  # noqa: E741
    """The encoder's parameters counted on a real bertlab model (built on the meta device)."""
    import torch

    config = BertConfig(vocab_size=100, hidden_size=H, intermediate_size=I, num_hidden_layers=L,
                        num_attention_heads=4 if H % 4 == 0 else 1, share_layers=share)
    with torch.device("meta"):
        model = BertModel(config)
    return sum(p.numel() for p in model.encoder.parameters())


def _random_sizes(g) -> tuple[int, int, int]:
    """(H, I, L) of a made-up encoder: fresh hidden inputs at grading time."""
    H = g.choice((64, 96, 160, 192, 320))
    return H, g.choice((2, 3, 4)) * H, g.randrange(2, 9)


@register("encoder_params", 3, "encoder parameters with cross-layer sharing",
          "my_encoder_params(H, I, L, share) -> int  (share: 'none' | 'all' | 'attention' | 'ffn')")
def check_encoder_params(fn, r: Report) -> None:
    sizes = hidden_cases([(768, 3072, 12), (128, 512, 4)], _random_sizes, 2)
    cases = [(*size, s) for size in sizes for s in SHARE_MODES] + [(312, 1200, 4, "none")]
    got = {case: r.call(fn, *case) for case in cases}

    @r.rule("returns a whole number", required=True)
    def _():
        for case, value in got.items():
            _number(value, r, f"my_encoder_params{case}")

    def check_modes(modes, hint_for):
        for H, I, L, share in cases:  # noqa: E741
            if share not in modes:
                continue
            value = _number(got[(H, I, L, share)], r, "the count")
            want = _counted(H, I, L, share)
            if value != want:
                r.fail(f"for H={H}, I={I}, L={L}, share={share!r}: a real model has {want:,} encoder parameters, "
                       f"you returned {value:,}. {hint_for(H, I, L, share, value)}")

    def hints(H, I, L, share, value):  # noqa: E741
        a_w, f_w = 4 * H * H, 2 * H * I
        n_att = 1 if share in ("all", "attention") else L
        n_ffn = 1 if share in ("all", "ffn") else L
        return diagnose(value, {
            "Biases are missing: every Linear layer also has one bias per output (4H in attention, I + H in "
            "the feed-forward block).": n_att * (a_w + 2 * H) + n_ffn * (f_w + 2 * H),
            "The LayerNorms are missing: each block ends with one (weight and bias: 2H).":
                n_att * (a_w + 4 * H) + n_ffn * (f_w + I + H),
            "Biases and LayerNorms are both missing.": n_att * a_w + n_ffn * f_w,
            "Shared blocks are stored once: don't multiply them by L.": _reference_encoder(H, I, L, "none"),
            "You shared the other block: 'attention' shares the attention blocks, 'ffn' the feed-forward blocks.":
                _reference_encoder(H, I, L, {"attention": "ffn", "ffn": "attention"}.get(share, share)),
            "That is the count of one layer: without sharing there are L of them.":
                _reference_encoder(H, I, 1, "none"),
        }, rel=0) or ("Per layer: attention 4(H·H + H) + LayerNorm 2H; feed-forward (H·I + I) + (I·H + H) + LayerNorm 2H; "
               "shared blocks count once.")

    @r.rule("share='none' (BERT): L independent layers")
    def _():
        check_modes(("none",), hints)

    @r.rule("share='all' (ALBERT's default): one layer, stored once")
    def _():
        check_modes(("all",), hints)

    @r.rule("share='attention' and share='ffn': only one kind of block is shared")
    def _():
        check_modes(("attention", "ffn"), hints)


@register("encoder_macs", 3, "sharing saves parameters, not compute",
          "my_encoder_macs(H, I, L, T, share) -> int")
def check_encoder_macs(fn, r: Report) -> None:
    sizes = hidden_cases([(768, 3072, 12, 128), (128, 512, 4, 64)],
                         lambda g: (*_random_sizes(g), g.choice((16, 48, 96))), 2)
    cases = [(*size, s) for size in sizes for s in SHARE_MODES]
    got = {case: r.call(fn, *case) for case in cases}

    def want(H, I, L, T):  # noqa: E741
        return L * (4 * T * H * H + 2 * T * T * H + 2 * T * H * I)

    @r.rule("returns a whole number", required=True)
    def _():
        for case, value in got.items():
            _number(value, r, f"my_encoder_macs{case}")

    @r.rule("share='none': L × (4·T·H² + 2·T²·H + 2·T·H·I)")
    def _():
        for (H, I, L, T, share), value in got.items():  # noqa: E741
            if share != "none":
                continue
            value, expected = _number(value, r, "the count"), want(H, I, L, T)
            if value != expected:
                hint = diagnose(value, {
                    "the attention products are missing: QKᵀ (T·T·H) and the weighted sum of values (T·T·H).":
                        L * (4 * T * H * H + 2 * T * H * I),
                    "that is one token's work: multiply by the T positions of the sequence.":
                        L * (4 * H * H + 2 * H * I) + 2 * L * T * H,
                    "that is one layer: the encoder applies L of them.": want(H, I, 1, T),
                }, rel=0) or "count Q, K, V, O (4·T·H·H), QKᵀ and AV (2·T·T·H) and the feed-forward block (2·T·H·I), per layer."
                r.fail(f"for H={H}, I={I}, L={L}, T={T}: expected {expected:,}, got {value:,}: {hint}")

    @r.rule("the same for every sharing mode (a shared layer still runs L times)")
    def _():
        for (H, I, L, T, share), value in got.items():  # noqa: E741
            value, expected = _number(value, r, "the count"), want(H, I, L, T)
            unshared = _number(got[(H, I, L, T, "none")], r, "the count")
            if value != unshared:
                hint = ""
                if unshared and abs(value * L - unshared) <= 1:
                    hint = (" You divided by L: sharing stores one layer, but the model still APPLIES it L times "
                            "to every token, so the work (and the time) is that of L layers.")
                r.fail(f"for share={share!r} you return {value:,}, for share='none' {unshared:,}; they must be "
                       f"equal ({expected:,}).{hint}")
