"""The interactive page in a real browser (Debian's chromium driven by Playwright).

Skipped when chromium or Playwright is missing, unless CHAINRULE_REQUIRE_BROWSER=1
(CI), when that is a failure.  CHAINRULE_UPDATE_SCREENSHOT=1 also rewrites
docs/explain-tour.png from the tour's 1-2-1 network page.
"""
import math
import os
import pathlib

import pytest

import chainrule as cr
import chainrule.numpy as cnp

CHROMIUM = "/usr/bin/chromium"
ROOT = pathlib.Path(__file__).resolve().parent.parent
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _missing():
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} is not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright; never `playwright install`)"
    return None


@pytest.fixture(scope="module")
def browser():
    why = _missing()
    if why:
        if os.environ.get("CHAINRULE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"CHAINRULE_REQUIRE_BROWSER=1 but {why}")
        pytest.skip(why)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _open(browser, ex, tmp_path, size=(1400, 760)):
    path = ex.save(tmp_path / "page.html")
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: errors.append(f"network request {r.url}")
            if not r.url.startswith(("file:", "data:")) else None)
    page.goto(pathlib.Path(path).resolve().as_uri())
    return page, errors


def _texts(page, cls):
    return page.eval_on_selector_all(
        "g.node", f"gs => Object.fromEntries(gs.map(g => [g.dataset.name, g.querySelector('.{cls}').textContent]))")


def _lit(page):
    return page.eval_on_selector_all("g.node.current", "gs => gs.map(g => g.dataset.name)")


@pytest.fixture
def seed_ex():
    return cr.explain(lambda x, y, w: cnp.exp(x * y) + w, 1.0, 2.0, 3.0, output="L")


def test_forward_then_backward_buttons(browser, seed_ex, tmp_path):
    page, errors = _open(browser, seed_ex, tmp_path)
    assert _texts(page, "val") == {"x": "1", "y": "2", "w": "3", "u": "", "v": "", "L": ""}
    assert page.is_disabled("button.bwd")
    clicks = 0
    while page.is_enabled("button.fwd"):
        page.click("button.fwd")
        clicks += 1
        assert _lit(page) == [["u", "v", "L"][clicks - 1]]
    assert clicks == 3
    assert _texts(page, "val") == {"x": "1", "y": "2", "w": "3", "u": "2", "v": "7.389", "L": "10.39"}
    assert page.inner_text(".now") == "L = v + w = 7.389 + 3 = 10.39"
    assert page.locator(".log li").count() == 3
    assert page.locator(".log li").nth(1).inner_text() == "F2  v = exp(u) = exp(2) = 7.389"
    assert set(_texts(page, "adj").values()) == {""}
    assert page.locator(".elabel:visible").count() == 0
    while page.is_enabled("button.bwd"):
        page.click("button.bwd")
        clicks += 1
        if clicks == 3 + 3:  # ū += v̄ · ∂v/∂u: the edge's local derivative is written on it
            assert page.locator(".elabel:visible").all_text_contents() == ["∂v/∂u = exp(u)"]
    assert clicks == 3 + 5
    adj = _texts(page, "adj")
    e2 = math.exp(2)
    assert adj["x"] == f"x̄ = {2 * e2:.4g}" and adj["y"] == f"ȳ = {e2:.4g}" and adj["w"] == "w̄ = 1"
    assert adj["u"] == f"ū = {e2:.4g}" and adj["L"] == "L̄ = 1"
    grads = page.eval_on_selector_all("g.node.grad", "gs => gs.map(g => g.dataset.name).sort()")
    assert grads == ["w", "x", "y"]
    log = page.locator(".log li").all_inner_texts()
    assert len(log) == 3 + 1 + 5 and log[3] == "seed L̄ = 1"
    assert log[-1].startswith("B5") and "⇒ ∂L/∂" in log[-1]
    assert _lit(page) == [seed_ex.steps[-1].node]
    assert "done" in page.inner_text(".status")
    assert errors == []
    page.close()


def test_keyboard_back_and_reset(browser, seed_ex, tmp_path):
    page, errors = _open(browser, seed_ex, tmp_path)
    for _ in range(10):  # past the end: stays at the last step
        page.keyboard.press("ArrowRight")
    assert page.locator(".log li").count() == 9
    assert _texts(page, "adj")["y"] != ""
    page.keyboard.press("ArrowLeft")  # undo the last backward step
    assert page.locator(".log li").count() == 8
    last = seed_ex.steps[-1].node
    assert _texts(page, "adj")[last] == ""
    page.click("button.back")
    page.click("button.back")  # 3 forward and 2 backward steps, and the seed
    assert page.locator(".log li").count() == 6
    assert _lit(page) == [seed_ex.steps[4].node]
    page.click("button.back")
    page.click("button.back")  # back to the end of the forward pass: the seed goes too
    assert page.locator(".log li").count() == 3
    assert _texts(page, "adj")["L"] == "" and page.is_enabled("button.bwd")
    page.click("button.reset")
    assert page.locator(".log li").count() == 0
    assert _texts(page, "val")["v"] == "" and _lit(page) == []
    assert page.is_disabled("button.back") and page.is_enabled("button.fwd")
    page.keyboard.press("ArrowRight")
    assert _texts(page, "val")["u"] == "2"
    page.keyboard.press("Home")
    assert _texts(page, "val")["u"] == ""
    assert errors == []
    page.close()


def test_tour_page_screenshot(browser, tmp_path):
    """The tour's 1-2-1 network, midway through the backward pass (docs/explain-tour.png)."""
    from chainrule.explain.cli import tour_explanations
    _, ex = tour_explanations()[2]
    page, errors = _open(browser, ex, tmp_path, size=(1500, 820))
    n_forward = sum(s.phase == "forward" for s in ex.steps)
    for _ in range(n_forward + 12):
        page.keyboard.press("ArrowRight")
    assert page.locator(".log li").count() == n_forward + 1 + 12
    out = tmp_path / "tour.png"
    page.screenshot(path=str(out), full_page=True)
    assert out.stat().st_size > 10_000
    if os.environ.get("CHAINRULE_UPDATE_SCREENSHOT") == "1":
        page.screenshot(path=str(ROOT / "docs" / "explain-tour.png"), full_page=True)
    assert errors == []
    page.close()


def test_tour_page_sections_step_independently(browser, tmp_path, capsys, monkeypatch):
    from chainrule.cli import main
    monkeypatch.chdir(tmp_path)
    assert main(["--html", "tour.html"]) == 0
    capsys.readouterr()
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((tmp_path / "tour.html").as_uri())
    sections = page.locator("div.crx")
    assert sections.count() == 3
    second = sections.nth(1)
    second.locator("button.fwd").click()
    second.press("ArrowRight")  # keys go to the section that has the focus
    assert second.locator(".log li").count() == 2
    assert sections.nth(0).locator(".log li").count() == 0
    assert sections.nth(2).locator(".log li").count() == 0
    assert second.locator("g.node.current").get_attribute("data-name") == "v"
    assert errors == []
    page.close()


def test_a_big_graph_scrolls_its_pane_to_the_node_being_computed(browser, tmp_path):
    def chain(x):
        for _ in range(40):
            x = cnp.sin(x) * 1.01 + x
        return x
    ex = cr.explain(chain, 0.3)
    page, errors = _open(browser, ex, tmp_path, size=(1400, 800))
    n_forward = sum(s.phase == "forward" for s in ex.steps)
    for _ in range(n_forward + 5):
        page.keyboard.press("ArrowRight")
    pane = page.locator(".pane").bounding_box()
    current = page.locator("g.node.current").bounding_box()
    assert pane["height"] <= 1000 + 20  # the page does not grow with the graph
    assert pane["y"] <= current["y"] and current["y"] + current["height"] <= pane["y"] + pane["height"]
    page.keyboard.press("Home")
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    current = page.locator("g.node.current").bounding_box()
    assert pane["y"] <= current["y"] and current["y"] + current["height"] <= pane["y"] + pane["height"]
    assert errors == []
    page.close()


def test_the_last_step_shows_the_gradient_and_why_an_input_gets_zero(browser, tmp_path):
    ex = cr.explain(lambda x, y: cnp.sin(x) * 2.0, 1.0, 2.0)
    page, errors = _open(browser, ex, tmp_path)
    for _ in range(len(ex.steps)):
        page.keyboard.press("ArrowRight")
    now = page.locator(".now").inner_text()
    assert "Gradient of f = 1.683: ∂f/∂x = 1.081, ∂f/∂y = 0" in now
    assert "y: no differentiable path to f" in now
    assert errors == []
    page.close()


@pytest.mark.parametrize("case", ["arrays", "model", "tour"])
def test_every_text_fits_its_box_at_the_last_step(browser, tmp_path, case):
    import numpy as np
    from chainrule.explain.cli import tour_explanations
    if case == "arrays":
        ex = cr.explain(lambda x, y: cnp.sum(cnp.sin(x) * 2.0) + cr.stop_gradient(y), np.array([0.5, 1.0]), 2.0)
    elif case == "model":
        ex = cr.explain(lambda model, x: cnp.sum(model(x) ** 2), cr.nn.MLP([2, 3, 1]), np.array([[0.5, -1.0]]))
    else:
        ex = tour_explanations()[2][1]
    page, errors = _open(browser, ex, tmp_path)
    for _ in range(len(ex.steps)):
        page.keyboard.press("ArrowRight")
    over = page.eval_on_selector_all("g.node", """gs => gs.flatMap(g => {
        const w = g.querySelector('rect').width.baseVal.value;
        return Array.from(g.querySelectorAll('text')).filter(t => t.textContent)
          .filter(t => t.x.baseVal[0].value + t.getComputedTextLength() > w - 2).map(t => t.textContent);
    })""")
    assert over == []
    if case == "arrays":  # an input no adjoint reached shows its 0 gradient at the end
        assert page.locator("g.node.grad").count() == 2
        assert page.locator("g.node[data-name=y] .adj").text_content() == "ȳ = 0"
    assert errors == []
    page.close()


HOSTILE_KEYS = ["<!--<script>", "</script><img src=x onerror=\"document.title='pwned'\">", "a&amp;b\u2028"]


def test_hostile_names_show_as_text_and_the_page_still_works(browser, tmp_path):
    """Names from dict keys may hold markup: the data block, the SVG and the text keep them text."""
    def f(p):
        return cnp.sum(p[HOSTILE_KEYS[0]] * p[HOSTILE_KEYS[1]]) + p[HOSTILE_KEYS[2]]

    params = {HOSTILE_KEYS[0]: 2.0, HOSTILE_KEYS[1]: 3.0, HOSTILE_KEYS[2]: 0.5}
    ex = cr.explain(f, params)
    ex.title = HOSTILE_KEYS[1]
    names = [n for n, node in ex.nodes.items() if node.kind == "input"]   # quotes shown escaped
    assert names[0] == HOSTILE_KEYS[0] and "</script><img" in names[1] and "a&amp;b" in names[2]
    page, errors = _open(browser, ex, tmp_path)
    assert page.locator("script").count() == 2 and page.locator("img").count() == 0
    assert page.title() == "chainrule explain: " + HOSTILE_KEYS[1] and page.inner_text("h1") == HOSTILE_KEYS[1]
    assert set(names) <= set(_texts(page, "val"))
    steps = 0
    while page.is_enabled("button.fwd") or page.is_enabled("button.bwd"):
        page.click("button.fwd" if page.is_enabled("button.fwd") else "button.bwd")
        steps += 1
    assert steps == len(ex.steps)
    log = "\n".join(page.locator(".log li").all_inner_texts())
    assert HOSTILE_KEYS[0] in log and "</script><img" in log
    adj = _texts(page, "adj")
    assert adj[names[0]].endswith(" = 3") and adj[names[1]].endswith(" = 2")  # d(ab)/da = b
    assert page.title() == "chainrule explain: " + HOSTILE_KEYS[1] and errors == []  # no script ran
    page.close()


def test_saved_svg_with_hostile_names_is_well_formed_xml(tmp_path):
    import xml.etree.ElementTree as ET
    ex = cr.explain(lambda p: p["<b>&\x01"] * 2.0, {"<b>&\x01": 1.0})
    root = ET.parse(ex.save(tmp_path / "g.svg")).getroot()
    titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert "<b>&\\x01" in titles
