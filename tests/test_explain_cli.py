"""The ``chainrule`` command: the tour, ``chainrule explain``, and refusing hostile expressions."""
import math
import os
import pathlib
import subprocess
import sys

import pytest

from chainrule.cli import main
from chainrule.explain.cli import ExpressionError, parse_expression

SRC = pathlib.Path(__file__).resolve().parent.parent / "src"


def run(argv, capsys):
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def test_tour_prints_the_seeds_examples_and_writes_the_page(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rc, out, _ = run([], capsys)
    assert rc == 0
    assert "u = x · y  = 1 · 2     = 2" in out
    assert "v = exp(u) = exp(2)    = 7.389" in out
    assert "⇒ ∂L/∂x = 14.78" in out and "⇒ ∂L/∂y = 7.389" in out
    assert "y = v³    = 3.25³    = 34.33" in out                      # (x² + 1)³ at 1.5
    assert f"⇒ ∂y/∂x = {6 * 1.5 * 3.25 ** 2:.4g}" in out
    for name in ("w11", "b1", "w12", "b2", "wo1", "wo2", "bo"):     # the 1-2-1 network
        assert f"⇒ ∂L/∂{name} = " in out
    page = tmp_path / "chainrule-tour.html"
    assert page.is_file() and str(page) in out
    html = page.read_text(encoding="utf-8")
    assert html.count('class="crx"') == 3 and "Forward step" in html


def test_tour_options(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rc, out, _ = run(["--no-html", "--latex"], capsys)
    assert rc == 0 and r"\begin{align*}" in out and "Interactive page" not in out
    assert list(tmp_path.iterdir()) == []
    rc, out, _ = run(["--html", str(tmp_path / "t.html")], capsys)
    assert rc == 0 and (tmp_path / "t.html").is_file()


def test_an_unwritable_page_is_a_clear_error(tmp_path, capsys):
    target = tmp_path / "no" / "such" / "folder" / "tour.html"
    rc, _, err = run(["--html", str(target)], capsys)
    assert rc == 1 and "cannot write the interactive page" in err and "--no-html" in err
    rc, _, err = run(["explain", "x * 2", "x=1", "--html", str(target)], capsys)
    assert rc == 1 and "cannot write" in err


def test_explain_an_expression(tmp_path, capsys):
    rc, out, _ = run(["explain", "exp(x*y) + w", "x=1", "y=2", "w=3", "--latex",
                      "--html", str(tmp_path / "e.html")], capsys)
    assert rc == 0
    assert "Inputs: x = 1, y = 2, w = 3" in out
    assert f"⇒ ∂f/∂x = {2 * math.exp(2):.4g}" in out
    assert r"\bar{u}" in out
    assert (tmp_path / "e.html").is_file()


def test_explain_arrays_and_keywords(capsys):
    rc, out, _ = run(["explain", "sum(tanh(x) ** 2, axis=0)", "x=[0.5, 1.0]"], capsys)
    assert rc == 0
    grad = [2 * math.tanh(v) * (1 - math.tanh(v) ** 2) for v in (0.5, 1.0)]
    assert f"⇒ ∂f/∂x = [{grad[0]:.4g}, {grad[1]:.4g}]" in out


HOSTILE = [
    "__import__('os').system('touch pwned')",
    "x.__class__",
    "().__class__.__bases__[0].__subclasses__()",
    "(lambda: 1)()",
    "[i for i in (x,)]",
    "x[0]",
    "open('pwned', 'w')",
    "eval('1')",
    "getattr(x, 'real')",
    "exp(x) if x else x",
    "'abc'",
    "x == 1",
    "exp(**{'x': 1})",
    "sum(x for x in (1,))",
    "_x + 1",
    "np.exp(x)",
    "ones(10 ** 10)",
    "print(x)",
]


@pytest.mark.parametrize("expr", HOSTILE)
def test_hostile_expressions_are_refused(expr, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run(["explain", expr, "x=1"], capsys)
    assert rc == 2
    assert err.startswith("chainrule explain: ") and ("not allowed" in err or "not a chainrule.numpy" in err
                                                       or "only" in err), err
    assert out == ""
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(ExpressionError):
        parse_expression(expr)


def test_missing_and_bad_values(capsys):
    rc, _, err = run(["explain", "exp(x*y)", "x=1"], capsys)
    assert rc == 2 and "no value for y; pass y=VALUE" in err
    rc, _, err = run(["explain", "x + 1", "x=abc"], capsys)
    assert rc == 2 and "must be a number" in err
    rc, _, err = run(["explain", "x +", "x=1"], capsys)
    assert rc == 2 and "cannot parse" in err
    rc, _, err = run(["explain", "x + 1", "x"], capsys)
    assert rc == 2 and "NAME=NUMBER" in err


def test_huge_or_deep_expressions_are_refused(capsys):
    rc, _, err = run(["explain", "x" + " + x" * 4000, "x=1"], capsys)
    assert rc == 2 and "at most 10000" in err
    rc, _, err = run(["explain", "--", "- " * 2500 + "x", "x=1"], capsys)
    assert rc == 2 and "nested too deeply" in err
    rc, _, err = run(["explain", "(" * 2000 + "x" + ")" * 2000, "x=1"], capsys)
    assert rc == 2 and "too many nested parentheses" in err and len(err) < 200


def test_console_module_runs():
    env = dict(os.environ, PYTHONPATH=str(SRC))
    proc = subprocess.run([sys.executable, "-m", "chainrule", "explain", "x * sin(x)", "x=2"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "⇒ ∂f/∂x = 0.077" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "chainrule", "explain", "x.real", "x=2"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2 and "attribute access" in proc.stderr


@pytest.mark.parametrize("expr,message", [
    ("x[0]", "subscripts ([...]) are not allowed"),
    ("x and x", "and/or operators are not allowed"),
    ("lambda: x", "lambdas are not allowed"),
    ("tahn(x)", "tahn() is not a chainrule.numpy function (did you mean tanh?)"),
    ("Exp(x)", "(did you mean exp?)"),
    ("ones(3) + x", "ones() is not available in expressions"),
])
def test_refusals_read_well(expr, message, capsys):
    rc, _, err = run(["explain", expr, "x=1"], capsys)
    assert rc == 2 and message in err, err


@pytest.mark.parametrize("value,shown", [("x=1e-3", "x = 0.001"), ("x=-2", "x = -2"), ("x=nan", "x = nan"),
                                         ("x=[1, -2, 3e-1]", "x = [1, -2, 0.3]")])
def test_number_formats(value, shown, capsys):
    rc, out, _ = run(["explain", "sum(x * 2)", value], capsys)
    assert rc == 0 and out.startswith(f"Inputs: {shown}\n")


def test_an_expression_starting_with_minus_is_not_an_option(capsys):
    rc, out, _ = run(["explain", "-x**2", "x=3"], capsys)
    assert rc == 0 and "⇒ ∂f/∂x = -6" in out


def test_a_variable_given_twice_and_an_array_result_are_clear_errors(capsys):
    rc, _, err = run(["explain", "x*2", "x=1", "x=2"], capsys)
    assert rc == 2 and "x is given twice" in err
    rc, _, err = run(["explain", "x*2", "x=[1, 2]"], capsys)
    assert rc == 1 and "wrap the expression in sum(...)" in err and "explain: explain" not in err


def test_explain_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        main(["explain", "--help"])
    out = capsys.readouterr().out
    assert '"x=[0.5, 1.0, -2]"' in out and "sum(...)" in out and "examples:" in out


def test_output_piped_into_a_reader_that_stops_early_is_not_a_traceback():
    env = dict(os.environ, PYTHONPATH=str(SRC))
    proc = subprocess.Popen([sys.executable, "-m", "chainrule", "--no-html"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    proc.stdout.readline()
    proc.stdout.close()  # as `| head -1` does
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipeError" not in err


def test_a_small_matrix_value_is_shown_in_full(capsys):
    rc, out, _ = run(["explain", "sum(W @ x)", "W=[[1, 2], [3, 4]]", "x=[1, -1]"], capsys)
    assert rc == 0 and out.startswith("Inputs: W = [[1, 2], [3, 4]], x = [1, -1]\n")
    assert "W̄ += ū · xᵀ               = [[1, -1], [1, -1]]" in out


def test_constant_expressions_and_infinities(capsys):
    rc, _, err = run(["explain", "2*3"], capsys)
    assert rc == 2 and "no variables to differentiate" in err
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's divide-by-zero warning would be an error here
        rc, out, err = run(["explain", "log(x)", "x=0"], capsys)
    assert rc == 0 and "Gradient of f = -inf: ∂f/∂x = inf" in out
