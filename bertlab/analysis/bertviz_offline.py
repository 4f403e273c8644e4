"""bertviz's head and model views as self-contained HTML that draws offline.

bertviz (Vig, 2019, "A Multiscale Visualization of Attention in the Transformer Model") returns HTML that
loads require.js from a CDN, which then loads d3 5.7 and jQuery 2.x from a CDN: without internet it draws
nothing. Here we keep bertviz's markup and drawing code, drop the require.js tag and ``require.config``,
and run the drawing code inside one ``<script>`` that first evaluates d3 and jQuery read from
``bertlab.paths.js_dir()`` (fetched from the npm registry by ``scripts/setup.sh``; never committed).

The libraries are evaluated in a function scope where ``define``/``module``/``exports`` are undefined, so
their UMD wrappers never register with an AMD loader already on the page (classic Jupyter, VS Code), and
the page's own ``window.d3`` / ``window.$`` / ``window.jQuery`` are left as they were. Each view has its
own root element id (bertviz's ``bertviz-<uuid4>``) and every selector in bertviz's code is scoped under
it, so several views on one page (JupyterLab) work; Streamlit puts each view in its own iframe anyway:

    streamlit.components.v1.html(head_view_html(attn, tokens), height=400, scrolling=True)
    IPython.display.display(IPython.display.HTML(head_view_html(attn, tokens)))
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from pathlib import Path

import torch

from bertlab.paths import js_dir

D3_FILE = "d3.min.js"        # d3 5.7.0, npm package d3, dist/d3.min.js
JQUERY_FILE = "jquery.min.js"  # jQuery 2.2.4, npm package jquery, dist/jquery.min.js

# bertviz 1.4's markup, matched loosely enough to survive whitespace changes. If a future bertviz
# changes these, _make_offline raises instead of returning a view that silently draws nothing.
_REQUIRE_TAG = re.compile(r"<script[^>]*\bsrc=[\"'][^\"']*require[^\"']*[\"'][^>]*>\s*</script>", re.I)
_INLINE_SCRIPT = re.compile(r"<script type=\"text/javascript\">(.*)</script>", re.S)
_REQUIRE_CONFIG = re.compile(r"require(?:js)?\.config\(\s*\{.*?\}\s*\);", re.S)
_REQUIRE_CALL = re.compile(
    r"require(?:js)?\(\s*\[\s*['\"]jquery['\"]\s*,\s*['\"]d3['\"]\s*\]\s*,\s*function\s*\(\s*\$\s*,\s*d3\s*\)\s*\{")
_SOURCE_MAP = re.compile(r"^//# sourceMappingURL=.*$", re.M)


def js_available() -> bool:
    """True when d3 and jQuery are in ``js_dir()`` (``scripts/setup.sh`` puts them there)."""
    return all(_js_path(name).is_file() and _js_path(name).stat().st_size > 0 for name in (D3_FILE, JQUERY_FILE))


def head_view_html(attention, tokens: Sequence[str], sentence_b_start: int | None = None,
                   layer: int | None = None, heads: Sequence[int] | None = None) -> str:
    """bertviz's head view (one layer; lines from each token to the tokens it attends to) as HTML.

    ``attention``: one tensor per layer, each ``(1, heads, T, T)`` (``(heads, T, T)`` is accepted too);
    ``tokens``: the T token strings; ``sentence_b_start``: index of the first token of sentence B, which
    adds bertviz's A→A / A→B / ... filter; ``layer``: the layer shown first; ``heads``: heads shown first.
    """
    attention = _as_bertviz_attention(attention, tokens)
    if not js_available():
        return _missing_js_html("head view")
    from bertviz import head_view

    view = head_view(attention, list(tokens), sentence_b_start=sentence_b_start, layer=layer,
                     heads=list(heads) if heads is not None else None, html_action="return")
    return _make_offline(view.data)


def model_view_html(attention, tokens: Sequence[str], sentence_b_start: int | None = None,
                    include_layers: Sequence[int] | None = None, include_heads: Sequence[int] | None = None,
                    display_mode: str = "light") -> str:
    """bertviz's model view (a thumbnail of every layer × head; click one to enlarge) as HTML.

    Arguments as for :func:`head_view_html`; ``include_layers`` / ``include_heads`` restrict the grid;
    ``display_mode`` is ``"light"`` or ``"dark"`` (bertviz's default is dark, bertlab's pages are light).
    """
    attention = _as_bertviz_attention(attention, tokens)
    if display_mode not in ("light", "dark"):
        raise ValueError(f"display_mode must be 'light' or 'dark', not {display_mode!r}")
    if not js_available():
        return _missing_js_html("model view")
    from bertviz import model_view

    view = model_view(attention, list(tokens), sentence_b_start=sentence_b_start, display_mode=display_mode,
                      include_layers=list(include_layers) if include_layers is not None else None,
                      include_heads=list(include_heads) if include_heads is not None else None,
                      html_action="return")
    return _make_offline(view.data)


def _js_path(name: str) -> Path:
    return js_dir() / name


def _as_bertviz_attention(attention, tokens: Sequence[str]) -> tuple[torch.Tensor, ...]:
    """Check shapes and return a tuple of float CPU tensors ``(1, heads, T, T)``, one per layer."""
    if isinstance(attention, torch.Tensor) or not isinstance(attention, Sequence) or len(attention) == 0:
        raise ValueError("attention must be a non-empty tuple or list with one tensor per layer")
    layers = []
    for i, a in enumerate(attention):
        a = torch.as_tensor(a).detach().to("cpu", torch.float32)
        if a.dim() == 3:
            a = a.unsqueeze(0)  # (heads, T, T) -> (1, heads, T, T)
        if a.dim() != 4 or a.shape[0] != 1:
            raise ValueError(f"attention[{i}] has shape {tuple(a.shape)}; bertviz shows one example: pass "
                             "(1, heads, T, T) per layer, e.g. tuple(a[k:k + 1] for a in output.attentions)")
        if a.shape[-1] != len(tokens) or a.shape[-2] != len(tokens):
            raise ValueError(f"attention[{i}] covers {a.shape[-1]} positions but {len(tokens)} tokens were given")
        layers.append(a)
    return tuple(layers)


def _script_safe(js: str) -> str:
    """Make JavaScript safe inside an inline ``<script>``: no ``</script`` or ``<!--`` can end or derail it.

    Both only occur inside string literals here (token text in bertviz's parameters), where ``<\\/`` and
    ``<\\!`` mean the same characters.
    """
    js = re.sub(r"</(script)", r"<\\/\1", js, flags=re.I)
    return js.replace("<!--", "<\\!--")


def _read_js(name: str) -> str:
    return _SOURCE_MAP.sub("", _js_path(name).read_text(encoding="utf-8"))


def _make_offline(bertviz_html: str) -> str:
    """Turn bertviz's CDN-dependent HTML into one self-contained fragment (see the module docstring)."""
    markup, n_tags = _REQUIRE_TAG.subn("", bertviz_html)
    match = _INLINE_SCRIPT.search(markup)
    if n_tags != 1 or match is None:
        raise RuntimeError("bertviz's HTML no longer has the require.js tag and inline script that "
                           "bertlab.analysis.bertviz_offline expects; update it for this bertviz version")
    code, n_config = _REQUIRE_CONFIG.subn("", match.group(1))
    code, n_call = _REQUIRE_CALL.subn("(function ($, d3) {", code)
    end = code.rstrip().rfind("});")
    if n_config != 1 or n_call != 1 or end < 0:
        raise RuntimeError("bertviz's script no longer has the require.config / requirejs(['jquery', 'd3'], ...) "
                           "wrapper that bertlab.analysis.bertviz_offline expects; update it for this bertviz version")
    code = code[:end] + "})(lib.jQuery, lib.d3);" + code[end + 3:]

    script = "\n".join([
        "(function () {",
        "  // Hide AMD/CommonJS loaders so the UMD bundles below neither register with require.js nor",
        "  // export to a module; d3 attaches to `lib` (its `this`), jQuery is taken back from window.",
        "  var define, module, exports;",
        "  var lib = {};",
        "  (function () {",
        _read_js(D3_FILE),
        "  ;}).call(lib);",
        _read_js(JQUERY_FILE),
        "  ;lib.jQuery = window.jQuery.noConflict(true);  // puts back the page's own $ and jQuery, if any",
        code,
        "})();",
    ])
    return markup[:match.start()] + '<script type="text/javascript">\n' + _script_safe(script) + "\n</script>" \
        + markup[match.end():]


def _missing_js_html(view: str) -> str:
    where = html.escape(str(js_dir()))
    return (
        '<div class="bertlab-bertviz-missing" style="border:2px solid #c0392b; border-radius:4px; '
        'padding:10px 14px; background:#fdecea; color:#7b1f17; font-family:Helvetica, Arial, sans-serif;">'
        f"<b>The bertviz {view} cannot be drawn offline:</b> d3 and jQuery are missing. "
        f"Run scripts/setup.sh (needs npm) to fetch d3 and jQuery into {where}"
        "</div>"
    )
