"""(j) explain at scale: ``cr.explain`` and its renderers against the size of the graph (issue 16).

Two graphs of n operations each, in float64:

* a chain, ``x <- sin(x) * 0.9`` repeated n/2 times (deep: n layers);
* a fan-out, ``acc <- acc + w * i`` for i < n/2 (one weight read n/2 times: the case that made
  the SVG's edge routing quadratic).

For each: the time of ``cr.explain`` (forward and backward recorded), ``str`` (the text log),
``.latex()``, ``.svg()`` and ``.html()`` (the interactive page), and the time per operation,
which is flat when a step is linear.  There is no peer: no other library writes this log.
Run: ``python benchmarks/bench_explain.py [--quick]``.
"""
from __future__ import annotations

import argparse
import time

import _env  # noqa: F401  (before NumPy)

from _harness import banner, table

SIZES = (100, 1_000, 10_000, 100_000)
QUICK_SIZES = (100, 1_000, 10_000)


def chain(n):
    import chainrule.numpy as cnp

    def f(x):
        for _ in range(n // 2):
            x = cnp.sin(x) * 0.9
        return x
    return f


def fan_out(n):
    def f(w):
        acc = w * 0.0
        for i in range(n // 2):
            acc = acc + w * float(i)
        return acc
    return f


def _time(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


CHROMIUM = "/usr/bin/chromium"
CLICKS = 20


def page_step_ms(html, browser):
    """Milliseconds per Forward step click on the page, layout included (``None``: no browser)."""
    if browser is None:
        return None
    import pathlib
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        path = pathlib.Path(d) / "page.html"
        path.write_text(html, encoding="utf-8")
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(path.as_uri())
        ms = page.evaluate("""n => { const b = document.querySelector('.crx .fwd'); b.click();
            const t0 = performance.now(); for (let i = 0; i < n; i++) b.click();
            document.body.getBoundingClientRect(); return (performance.now() - t0) / n; }""", CLICKS)
        page.close()
    return ms


def _browser(stack):
    """A headless chromium through Playwright, or ``None`` (the page column is then skipped)."""
    import os
    if not os.path.exists(CHROMIUM):
        return None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    p = stack.enter_context(sync_playwright())
    b = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
    stack.callback(b.close)
    return b


def measure(make, n, browser=None):
    import chainrule as cr
    t_ex, ex = _time(lambda: cr.explain(make(n), 0.5))
    row = {"n": n, "explain": t_ex}
    everything = float("inf")  # past cr.explain's MAX_DRAWN_NODES: the renderers' speed is what is measured
    for name, fn in (("text", lambda: str(ex)), ("latex", ex.latex), ("svg", lambda: ex.svg(everything)),
                     ("html", lambda: ex.html(everything))):
        row[name], out = _time(fn)
    row["page_ms_per_step"] = page_step_ms(out, browser) if n <= 10_000 else None
    return row


def run(quick=False):
    import contextlib
    print(banner("(j) explain at scale: seconds per call, and microseconds per operation"))
    results = {}
    with contextlib.ExitStack() as stack:
        browser = _browser(stack)
        for kind, make in (("chain", chain), ("fan-out", fan_out)):
            rows = []
            for n in (QUICK_SIZES if quick else SIZES):
                r = measure(make, n, browser)
                results.setdefault(kind, []).append(r)
                total = sum(r[k] for k in ("explain", "text", "latex", "svg", "html"))
                step = r["page_ms_per_step"]
                rows.append([f"{n:,}"] + [f"{r[k]:.3f}" for k in ("explain", "text", "latex", "svg", "html")]
                            + [f"{1e6 * total / n:.0f}", "—" if step is None else f"{step:.2f}"])
            print(f"\n{kind}")
            print(table(["ops", "explain s", "text s", "latex s", "svg s", "html s", "µs/op (all)",
                         "page ms/step"], rows))
    print("page ms/step: one Forward step click in headless chromium, layout included (up to 10^4 ops;"
          " skipped without chromium and playwright)")
    return results


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    run(ap.parse_args().quick)
