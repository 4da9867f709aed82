"""Tests for sngan_teach.explore: frames, validation, and the two views of one output."""

from __future__ import annotations

import base64
import json
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from sngan_teach import explore as ex  # noqa: E402

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def draw_line(k, r):
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, k * r])
    ax.set_ylim(0, 10)
    return fig, f"k = {k}, r = {r}: slope {k * r:.2f}"


@pytest.fixture
def shown(monkeypatch):
    """Capture what explore() would display."""
    bundles = []
    monkeypatch.setattr(ex, "_show", bundles.append)
    return bundles


def frames_of(html: str) -> list[bytes]:
    payload = re.search(r'class="sngan-explore-data">(.*?)</script>', html, re.S).group(1)
    return [base64.b64decode(f) for f in json.loads(payload)["frames"]]


def test_every_combination_is_a_distinct_frame_and_figures_are_closed(shown):
    before = plt.get_fignums()
    assert ex.explore(draw_line, k=[1, 2, 4], r=[0.5, 0.9]) is None
    assert plt.get_fignums() == before, "explore must close every figure it rendered"
    (bundle,) = shown
    frames = frames_of(bundle["text/html"])
    assert len(frames) == 6
    assert len(set(frames)) == 6, "each combination must give its own image"
    assert all(f.startswith(b"\x89PNG") for f in frames)
    # both views in one output: the widget for JupyterLab, the HTML for the site
    assert WIDGET_VIEW in bundle and "text/html" in bundle
    assert "data:" not in bundle["text/plain"] and len(bundle["text/plain"]) < 200


def test_frame_order_and_captions_follow_the_controls():
    values = ex._check(draw_line, {"k": [1, 2, 4], "r": [0.5, 0.9]})
    frames = ex._render(draw_line, values)
    assert frames.captions[frames.index([2, 1])] == "k = 4, r = 0.9: slope 3.60"
    assert frames.captions[frames.index([0, 1])] == "k = 1, r = 0.9: slope 0.90"
    assert frames.labels == (("1", "2", "4"), ("0.5", "0.9"))
    assert frames.numeric == (True, True)


def test_a_figure_without_caption_is_captioned_with_its_values():
    def draw(method):
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.set_title(method)
        return fig

    frames = ex._render(draw, ex._check(draw, {"method": ["SN", "WN"]}))
    assert frames.captions == ("method = SN", "method = WN")
    assert frames.numeric == (False,)


def test_widget_swaps_image_and_caption():
    values = ex._check(draw_line, {"k": [1, 2, 4], "r": [0.5, 0.9]})
    frames = ex._render(draw_line, values)
    box = ex._widget(frames)
    k_slider, r_slider, image, caption = box.children
    assert type(k_slider).__name__ == "SelectionSlider"
    assert image.value == frames.pngs[0] and caption.value == frames.captions[0]
    k_slider.value = 2
    r_slider.value = 1
    assert image.value == frames.pngs[frames.index([2, 1])]
    assert caption.value == "k = 4, r = 0.9: slope 3.60"


def test_text_controls_get_a_dropdown_in_the_lab():
    def draw(method, k):
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.set_title(f"{method} {k}")
        return fig

    frames = ex._render(draw, ex._check(draw, {"method": ["SN", "WN"], "k": [1, 5]}))
    kinds = [type(w).__name__ for w in ex._widget(frames).children[:2]]
    assert kinds == ["Dropdown", "SelectionSlider"]


def test_html_is_self_contained(shown):
    ex.explore(draw_line, k=[1, 2], r=[0.5])
    page = shown[0]["text/html"]
    assert page.count('type="range"') == 2
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, re.I)
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page and "@import" not in page
    ids = set(re.findall(r'id="(sngan-explore-[^"]+)"', page))
    assert any(f'getElementById("{i}")' in page for i in ids)


def test_two_calls_get_different_ids(shown):
    ex.explore(draw_line, k=[1, 2], r=[0.5])
    ex.explore(draw_line, k=[1, 2], r=[0.5])
    first, second = (
        re.search(r'class="sngan-explore" id="([^"]+)"', b["text/html"]) for b in shown
    )
    assert first.group(1) != second.group(1)


@pytest.mark.parametrize(
    ("draw", "controls", "error", "match"),
    [
        ("not callable", {"k": [1]}, TypeError, "draw must be a callable, got str"),
        (draw_line, {}, ValueError, "at least one control"),
        (draw_line, {"k": [], "r": [1]}, ValueError, "control k must have at least one value"),
        (draw_line, {"k": 3, "r": [1]}, TypeError, "control k must be a list.*got int"),
        (draw_line, {"k": "abc", "r": [1]}, TypeError, "control k must be a list.*got str"),
        (draw_line, {"k": [1, 1.0], "r": [1]}, ValueError, "control k has repeated values"),
        (
            draw_line,
            {"k": range(7), "r": range(7)},
            ValueError,
            r"k \(7 values\) x r \(7 values\) = 49 frames",
        ),
    ],
)
def test_bad_input_is_refused_by_name(draw, controls, error, match):
    with pytest.raises(error, match=match):
        ex.explore(draw, **controls)


def test_draw_must_return_a_figure():
    with pytest.raises(TypeError, match=r"draw\(k=1\) must return a matplotlib Figure.*got dict"):
        ex.explore(lambda k: {"k": k}, k=[1])

    def bad_caption(k):
        fig, _ = plt.subplots()
        return fig, 3

    before = plt.get_fignums()
    with pytest.raises(TypeError, match="caption of type int"):
        ex.explore(bad_caption, k=[1])
    assert plt.get_fignums() == before


def test_the_frame_cap_allows_exactly_max_frames(monkeypatch):
    monkeypatch.setattr(ex, "MAX_FRAMES", 4)
    ex._check(draw_line, {"k": [1, 2], "r": [1, 2]})
    with pytest.raises(ValueError, match="= 6 frames, more than MAX_FRAMES = 4"):
        ex._check(draw_line, {"k": [1, 2, 3], "r": [1, 2]})


def test_captions_that_look_like_html_cannot_break_the_page(shown):
    captions = ["<!-- <script>", "</script><script>alert(1)</script>", "a & b > c"]

    def draw(k):
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.plot([0, 1], [0, k])
        return fig, captions[k]

    ex.explore(draw, k=[0, 1, 2])
    page = shown[0]["text/html"]
    head = '<script type="application/json" class="sngan-explore-data">'
    payload = page[page.index(head) + len(head) :].split("</script>", 1)[0]
    # no "<" at all inside the script element: nothing there can end it, open a comment or
    # start a nested script (the HTML parser's escape states all begin with "<")
    assert "<" not in payload
    assert json.loads(payload)["captions"] == captions
    visible = re.search(r'<p class="sngan-explore-caption">(.*?)</p>', page).group(1)
    assert visible == "&lt;!-- &lt;script&gt;"


def test_a_huge_range_is_counted_not_listed():
    with pytest.raises(ValueError, match=r"k \(1000000000000 values\) x r \(2 values\)"):
        ex._check(draw_line, {"k": range(10**12), "r": [1, 2]})
    with pytest.raises(ValueError, match="control k has more values than len"):
        ex._check(draw_line, {"k": range(10**20), "r": [1]})


def test_a_0d_array_is_refused_as_one_value():
    for value in (np.array(5), torch.tensor(0.5)):
        with pytest.raises(TypeError, match="control k must be a list.*got a 0-d"):
            ex._check(draw_line, {"k": value, "r": [1]})
    values = ex._check(draw_line, {"k": np.array([1, 2]), "r": [1]})  # 1-d is fine
    assert values["k"] == [1, 2]
