"""``chainrule explain`` bounds every value's size from its operands' shapes before computing it.

Oracle: the size of each refused result worked out by hand (n**4 for outer of outers,
(n + k)**2 for diag with offset k), and tracemalloc's peak (NumPy reports its allocations
to it) staying far below it.
"""
import os
import subprocess
import sys
import time
import tracemalloc

import pytest

from chainrule.cli import main
from chainrule.explain.cli import MAX_ELEMENTS, MAX_TOTAL

X300 = "x=[" + ", ".join(["0.1"] * 300) + "]"
X3000 = "x=[" + ", ".join(["0.1"] * 3000) + "]"


def run(argv, capsys):
    tracemalloc.start()
    start = time.perf_counter()
    try:
        rc = main(argv)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    out, err = capsys.readouterr()
    return rc, out, err, peak, time.perf_counter() - start


@pytest.mark.parametrize("expr,values,op,elements", [
    ("sum(outer(outer(x, x), outer(x, x)))", X300, "outer(outer(x, x), outer(x, x))", 300 ** 4),
    ("sum(outer(x, x) @ outer(x, x))", X300, "outer(x, x) @ outer(x, x)", 300 ** 4),
    ("sum(tensordot(outer(x, x), outer(x, x), 0))", X300, "tensordot(", 300 ** 4),
    ("sum(dot(outer(x, x), outer(x, x)))", X300, "dot(outer(x, x), outer(x, x))", 300 ** 4),
    ("sum(diag(x, k=1e9))", X300, "diag(x, k=1000000000.0)", (300 + 10 ** 9) ** 2),
    ("sum(diag(x, 1e9))", X300, "diag(x, 1000000000.0)", (300 + 10 ** 9) ** 2),
    ("sum(tril(ravel(outer(x, x))))", X300, "tril(ravel(outer(x, x)))", 300 ** 4),
    ("sum(x + reshape(outer(ravel(outer(x, x)), x), (27000000, 1)))", X300, "outer(ravel", 300 ** 3),
    ("sum(ravel(outer(x, x)) * reshape(ravel(outer(x, x)), (90000, 1)))", X300, "ravel(outer(x, x)) *",
     300 ** 4),
])
def test_a_huge_intermediate_is_refused_before_it_is_built(expr, values, op, elements, capsys):
    rc, out, err, peak, seconds = run(["explain", expr, values], capsys)
    assert rc == 2 and out == ""
    assert err.startswith(f"chainrule explain: refused {op}"), err
    assert f"could have {elements:,} elements" in err and f"at most {MAX_ELEMENTS:,} elements" in err
    assert peak < 50_000_000 and seconds < 20


def test_the_message_gives_the_size_in_bytes(capsys):
    _, _, err, _, _ = run(["explain", "sum(outer(outer(x, x), outer(x, x)))", X300], capsys)
    assert "(60.3 GiB as float64), from operands of shapes (300, 300) and (300, 300)" in err


def test_the_total_of_all_values_is_bounded(capsys):
    n = 3000 ** 2
    expr = "sum(" + " + ".join(["exp(outer(x, x))"] * 4) + ")"
    rc, _, err, peak, _ = run(["explain", expr, X3000], capsys)
    assert rc == 2 and f"allows at most {MAX_TOTAL:,} elements" in err
    assert f"would hold {6 * n:,} elements" in err   # outer, exp, outer, exp, the sum, outer
    assert peak < 8 * MAX_TOTAL


def test_a_result_within_the_bound_is_computed(capsys):
    rc, out, err, _, _ = run(["explain", "sum(outer(x, x))", "x=[1, 2, 3]"], capsys)
    assert rc == 0, err
    assert "⇒ ∂f/∂x = [12, 12, 12]" in out      # d/dx_i sum_jk x_j x_k = 2 sum(x)


@pytest.mark.parametrize("expr,message", [
    ("9**9**9 + x", "refused 9 ** 9 ** 9: 9.0 ** 387420489.0 is too large for a float"),
    ("2.0 ** 5000 * x", "refused 2.0 ** 5000: 2.0 ** 5000.0 is too large for a float"),
    ("x + 1" + "0" * 400, "refused the number 1000"),
])
def test_numbers_too_large_for_a_float_are_refused_by_name(expr, message, capsys):
    rc, out, err, _, _ = run(["explain", expr, "x=1"], capsys)
    assert rc == 2 and out == "" and message in err, err
    assert "(the largest is about 1.8e308)" in err


@pytest.mark.parametrize("expr", ["sum(x ** x ** x)", "sum(x ** 1e300)", "sum(roll(x, 1e300))"])
def test_huge_exponents_and_counts_on_arrays_are_values_not_allocations(expr, capsys):
    rc, out, err, peak, _ = run(["explain", expr, X300], capsys)
    assert rc == 0 and "Gradient of f" in out, err
    assert peak < 50_000_000


def test_the_command_refuses_in_a_subprocess():
    env = dict(os.environ, PYTHONPATH=os.path.join(os.path.dirname(__file__), "..", "src"))
    proc = subprocess.run([sys.executable, "-m", "chainrule", "explain",
                           "sum(outer(outer(x, x), outer(x, x)))", X300],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "refused outer(outer(x, x), outer(x, x))" in proc.stderr


@pytest.mark.parametrize("call", ["repeat(x, 1e12)", "tile(x, 1e12)", "pad(x, 1e12)", "arange(1e12)",
                                  "linspace(0, 1, 1e12)", "eye(1e6)", "full(1e12, x)", "zeros(1e12)",
                                  "broadcast_to(x, (1e6, 1e6))", "einsum('i,j', x, x)"])
def test_array_makers_are_refused_whatever_their_counts(call, capsys):
    rc, _, err, peak, _ = run(["explain", f"sum({call})", "x=[1, 2]"], capsys)
    assert rc == 2 and ("not available in expressions" in err or "only numbers" in err), err
    assert peak < 10_000_000


@pytest.mark.parametrize("expr", ["sum(x, axis=1e300)", "sum(reshape(x, (1e300, 1)))",
                                  "sum(reshape(x, (-1e19, 1)))"])
def test_integer_parameters_beyond_64_bits_are_refused(expr, capsys):
    rc, out, err, _, _ = run(["explain", expr, "x=[1, 2]"], capsys)
    assert rc == 2 and out == "" and "must fit in 64 bits" in err, err
