"""Offline bertviz views: no CDN, d3 and jQuery inlined, and (in chromium) the views really draw."""

from __future__ import annotations

import re

import pytest
import torch

from bertlab.analysis.bertviz_offline import head_view_html, js_available, model_view_html

try:  # `python -m pytest` (scripts/test.sh) has the checkout on sys.path; plain `pytest` has tests/
    from tests.browser import artifact_path, launch_browser, requires_chromium
except ModuleNotFoundError:
    from browser import artifact_path, launch_browser, requires_chromium

TOKENS = ["[CLS]", "the", "cat", "[SEP]", "sat", "[SEP]"]
needs_js = pytest.mark.skipif(not js_available(),
                              reason="d3/jQuery not in bertlab.paths.js_dir(); run scripts/setup.sh (needs npm)")


@pytest.fixture
def attention():
    """2 layers × 2 heads × 6 tokens of row-stochastic weights, shaped as bertviz wants: (1, heads, T, T)."""
    g = torch.Generator().manual_seed(0)
    return tuple(torch.softmax(torch.randn(1, 2, 6, 6, generator=g), dim=-1) for _ in range(2))


def root_ids(html: str) -> list[str]:
    return re.findall(r'id="(bertviz-[0-9a-f]+)"', html)


@pytest.mark.parametrize("view", [head_view_html, model_view_html])
def test_no_script_is_loaded_from_the_network(view, attention):
    html = view(attention, TOKENS)
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, re.I), "no <script src=...> at all"
    assert not re.search(r"src\s*=\s*[\"']?https?:", html, re.I)
    assert "require.config" not in html and "requirejs(" not in html and "cdnjs" not in html


@needs_js
@pytest.mark.parametrize("view", [head_view_html, model_view_html])
def test_inlines_d3_and_jquery(view, attention):
    html = view(attention, TOKENS)
    assert "d3js.org v5.7.0" in html and "jQuery v2.2.4" in html
    assert len(re.findall(r"</script", html, re.I)) == 1, "one inline script, closed once"


@needs_js
def test_each_call_has_its_own_root_id(attention):
    ids = root_ids(head_view_html(attention, TOKENS)) + root_ids(head_view_html(attention, TOKENS)) \
        + root_ids(model_view_html(attention, TOKENS))
    assert len(ids) == 3 and len(set(ids)) == 3


@needs_js
def test_token_text_cannot_close_the_script(attention):
    tokens = ["</script>", "<!--", "b", "c", "d", "</SCRIPT >"]
    html = head_view_html(attention, tokens)
    assert len(re.findall(r"</script", html, re.I)) == 1 and "<!--" not in html


def test_missing_javascript_gives_a_specific_message(attention, tmp_path, monkeypatch):
    monkeypatch.setenv("BERTLAB_JS_DIR", str(tmp_path / "empty"))
    assert not js_available()
    for view in (head_view_html, model_view_html):
        html = view(attention, TOKENS)
        assert f"Run scripts/setup.sh (needs npm) to fetch d3 and jQuery into {tmp_path / 'empty'}" in html
        assert "<script" not in html


def test_shapes_are_checked(attention):
    head_view_html(tuple(a[0] for a in attention), TOKENS)  # (heads, T, T) is accepted
    with pytest.raises(ValueError, match="one example"):
        head_view_html(tuple(a.expand(2, -1, -1, -1) for a in attention), TOKENS)
    with pytest.raises(ValueError, match="6 positions but 5 tokens"):
        head_view_html(attention, TOKENS[:5])
    with pytest.raises(ValueError, match="one tensor per layer"):
        head_view_html(torch.stack(attention), TOKENS)


# A page as hostile as a classic Jupyter notebook: an AMD loader is present (d3's UMD wrapper would
# register with it instead of exporting), and the page has its own `$` and `d3` that must survive.
HOSTILE_HEAD = """<script>
window.define = function () { window.amdDefineCalls = (window.amdDefineCalls || 0) + 1; };
window.define.amd = {};
window.$ = "page's own $"; window.d3 = "page's own d3";
</script>"""


@pytest.mark.browser
@requires_chromium
@needs_js
def test_views_draw_in_chromium(attention, tmp_path):
    from playwright.sync_api import sync_playwright

    head = head_view_html(attention, TOKENS, sentence_b_start=4, layer=1)
    second_head = head_view_html(attention, TOKENS)
    model = model_view_html(attention, TOKENS)
    plain = tmp_path / "head_view.html"
    plain.write_text(f"<!doctype html><meta charset='utf-8'><body>{head}</body>", encoding="utf-8")
    hostile = tmp_path / "hostile.html"
    hostile.write_text(f"<!doctype html><meta charset='utf-8'><head>{HOSTILE_HEAD}</head>"
                       f"<body>{head}{second_head}{model}</body>", encoding="utf-8")
    head_id, second_id, model_id = root_ids(head)[0], root_ids(second_head)[0], root_ids(model)[0]

    with sync_playwright() as p:
        browser = launch_browser(p)
        try:
            for path in (plain, hostile):
                page = browser.new_page(viewport={"width": 1100, "height": 700})
                errors, requests = [], []
                page.on("pageerror", lambda err: errors.append(str(err)))
                page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
                page.on("request", lambda req: requests.append(req.url))
                page.goto(path.as_uri())
                page.wait_for_selector(f"#{head_id} #vis svg line", state="attached", timeout=10_000)

                # Head view: 2 heads x 6 x 6 attention lines, token boxes, a layer menu starting at layer 1.
                assert page.locator(f"#{head_id} #vis svg line").count() == 2 * 6 * 6
                assert page.locator(f"#{head_id} #vis svg rect").count() > 0
                assert page.locator(f"#{head_id} select#layer option").all_inner_texts() == ["0", "1"]
                assert page.locator(f"#{head_id} select#layer").input_value() == "1"
                assert page.locator(f"#{head_id} select#filter option").count() == 5  # All, A->A, B->B, A->B, B->A
                page.locator(f"#{head_id} select#layer").select_option("0")  # re-renders
                page.locator(f"#{head_id} select#filter").select_option("1")  # A->A: 4 tokens
                assert page.locator(f"#{head_id} #vis svg line").count() == 2 * 4 * 4
                page.locator(f"#{head_id} select#filter").select_option("0")
                page.locator(f"#{head_id} #vis svg text", has_text="cat").first.hover()
                assert page.locator(f"#{head_id} #vis line[visibility='visible']").count() == 2 * 6

                if path == hostile:
                    # The second head view and the model view drew too, each inside its own root.
                    assert page.locator(f"#{second_id} #vis svg line").count() == 2 * 6 * 6
                    assert page.locator(f"#{model_id} #vis svg").count() == 1
                    assert page.locator(f"#{model_id} #vis svg rect").count() >= 2 * 2
                    # Changing the first view's layer left the second alone.
                    assert page.locator(f"#{second_id} select#layer").input_value() == "0"
                    state = page.evaluate("[window.$, window.d3, window.amdDefineCalls || 0]")
                    assert state == ["page's own $", "page's own d3", 0]
                    page.screenshot(path=str(artifact_path("bertviz_three_views_amd_page.png")), full_page=True)
                else:
                    page.mouse.move(0, 0)
                    page.screenshot(path=str(artifact_path("bertviz_head_view.png")), full_page=True)
                assert errors == [], errors
                assert all(url.startswith(("file:", "data:", "about:")) for url in requests), requests
                page.close()
        finally:
            browser.close()
