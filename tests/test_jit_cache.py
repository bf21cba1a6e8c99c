"""cr.jit's cache: what retraces (``Jitted.traces``), what does not, and what a trace exposes.

A new shape, dtype, pytree structure, static value or grad mode traces again;
a new *value* of an array (or Python number) argument does not, and Python side
effects of the function run only while tracing.  ``lower()`` gives the
compiled graph (``.ir``, ``.raw_ir``, ``.source``) and ``make_ir`` its listing.
Every retrace test also checks the values against the eager function.
"""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp


def f(x, y):
    return cnp.sin(x) * y + cnp.sum(x)


def test_a_new_value_does_not_retrace_and_gives_the_new_result():
    jf = cr.jit(f)
    rng = np.random.default_rng(0)
    for _ in range(5):
        x, y = rng.standard_normal(3), rng.standard_normal(3)
        np.testing.assert_allclose(jf(x, y), f(x, y), rtol=1e-15)
    assert jf.traces == 1


@pytest.mark.parametrize("change", [
    lambda x, y: (x[:2], y[:2]),                                   # shape
    lambda x, y: (x.reshape(1, 3), y),                             # rank
    lambda x, y: (x.astype(np.float32), y),                        # dtype
    lambda x, y: (x, y.astype(np.float32)),
    lambda x, y: (x, 2.0),                                         # a Python float for an array
    lambda x, y: (x, np.float64(2.0)),                             # a NumPy scalar
    lambda x, y: (x, 2),                                           # int, not float
], ids=["shape", "rank", "dtype x", "dtype y", "python float", "numpy scalar", "python int"])
def test_a_new_shape_or_dtype_retraces(change):
    jf = cr.jit(f)
    x, y = np.linspace(0.1, 1.0, 3), np.linspace(-1.0, 1.0, 3)
    jf(x, y)
    x2, y2 = change(x, y)
    np.testing.assert_allclose(jf(x2, y2), f(x2, y2), rtol=1e-6)
    assert jf.traces == 2
    np.testing.assert_allclose(jf(x2, y2), f(x2, y2), rtol=1e-6)
    jf(x, y)  # both signatures stay cached
    assert jf.traces == 2


def test_python_numbers_are_keyed_by_kind_not_value():
    jf = cr.jit(lambda x, s: x * s)
    x = np.ones(2)
    for s in (1.5, 2.5, -3.0):
        np.testing.assert_array_equal(jf(x, s), x * s)
    assert jf.traces == 1
    jf(x, 3)
    jf(x, True)
    assert jf.traces == 3


@pytest.mark.parametrize("a,b", [
    (((1.0, 2.0),), ([1.0, 2.0],)),                       # tuple vs list
    (({"a": 1.0, "b": 2.0},), ({"a": 1.0, "c": 2.0},)),   # dict keys
    (((1.0, 2.0),), ((1.0, 2.0, 3.0),)),                  # length
    (((1.0, (2.0,)),), ((1.0, 2.0),)),                    # nesting
], ids=["tuple-list", "dict keys", "length", "nesting"])
def test_a_new_pytree_structure_retraces(a, b):
    def total(t):
        leaves = list(t.values()) if isinstance(t, dict) else list(t)
        out = 0.0
        while leaves:
            v = leaves.pop()
            if isinstance(v, (tuple, list)):
                leaves.extend(v)
            else:
                out = out + v * 2.0
        return out
    jf = cr.jit(total)
    np.testing.assert_allclose(jf(*a), total(*a))
    np.testing.assert_allclose(jf(*b), total(*b))
    assert jf.traces == 2
    jf(*a), jf(*b)
    assert jf.traces == 2


def test_a_new_static_value_retraces_and_the_same_one_does_not():
    calls = []

    def power(x, n):
        calls.append(n)
        out = x
        for _ in range(n - 1):
            out = out * x
        return out
    x = np.array([1.5, -2.0])
    for jf, call in ((cr.jit(power, static_argnums=1), lambda jf, n: jf(x, n)),
                     (cr.jit(power, static_argnames="n"), lambda jf, n: jf(x, n=n)),
                     (cr.jit(power, static_argnames="n"), lambda jf, n: jf(x, n))):
        calls.clear()
        for n in (2, 3, 2, 3, 4):
            np.testing.assert_allclose(call(jf, n), x ** n)
        assert jf.traces == 3 and calls == [2, 3, 4]


def test_a_static_argument_passed_by_position_or_by_name_is_the_same_static():
    def scale(x, factor=2.0):
        return x * factor if factor > 0 else -x
    x = np.ones(2)
    for kw in ({"static_argnums": 1}, {"static_argnames": "factor"}):
        jf = cr.jit(scale, **kw)
        np.testing.assert_array_equal(jf(x, 3.0), 3.0 * x)
        np.testing.assert_array_equal(jf(x, factor=3.0), 3.0 * x)
        np.testing.assert_array_equal(jf(x, factor=-1.0), -x)
        np.testing.assert_array_equal(jf(x), 2.0 * x)


def test_non_array_leaves_are_static():
    def act(x, kind):
        return cnp.tanh(x) if kind == "tanh" else cnp.sin(x)
    jf = cr.jit(act)
    x = np.array([0.3, 0.7])
    np.testing.assert_array_equal(jf(x, "tanh"), np.tanh(x))
    np.testing.assert_array_equal(jf(x, "sin"), np.sin(x))
    np.testing.assert_array_equal(jf(x, "tanh"), np.tanh(x))
    assert jf.traces == 2


def test_keyword_arguments():
    jf = cr.jit(lambda x, *, scale, shift=0.0: x * scale + shift)
    x = np.ones(3)
    np.testing.assert_array_equal(jf(x, scale=2.0), 2.0 * x)
    np.testing.assert_array_equal(jf(x, scale=3.0), 3.0 * x)
    assert jf.traces == 1
    np.testing.assert_array_equal(jf(x, scale=3.0, shift=1.0), 3.0 * x + 1.0)
    assert jf.traces == 2


def test_python_side_effects_run_once_at_trace_time():
    log = []

    def noisy(x):
        log.append(("traced", x.shape))
        print("tracing")  # noqa: T201
        return x * 2.0
    jf = cr.jit(noisy)
    for k in range(4):
        np.testing.assert_array_equal(jf(np.full(3, float(k))), np.full(3, 2.0 * k))
    assert log == [("traced", (3,))]
    jf(np.ones(4))
    assert log == [("traced", (3,)), ("traced", (4,))]


def test_side_effects_once_under_grad_and_vmap_too():
    log = []

    def noisy(x):
        log.append(1)
        return cnp.sum(x ** 2)
    jf = cr.jit(noisy)
    x = np.array([1.0, 2.0])
    for _ in range(3):
        np.testing.assert_allclose(cr.grad(jf)(x), 2 * x)
    n = len(log)
    for _ in range(3):
        cr.grad(jf)(x)
    assert len(log) == n == 1
    for _ in range(2):
        np.testing.assert_allclose(cr.vmap(jf)(np.ones((4, 2))), np.full(4, 2.0))
    assert len(log) == 1


def test_grad_mode_is_part_of_the_key():
    jf = cr.jit(lambda x: x * 3.0)
    t = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    out = jf(t)
    n = jf.traces
    with cr.no_grad():
        out2 = jf(t)
        out3 = jf(t)
    assert jf.traces == n + 1
    assert out.requires_grad and not getattr(out2, "requires_grad", False) and not getattr(out3, "requires_grad", False)
    np.testing.assert_array_equal(cr.tensor(out2).numpy(), [3.0, 6.0])
    jf(t)  # the grad-enabled graph is still cached
    assert jf.traces == n + 1


def test_clear_cache_retraces():
    jf = cr.jit(f)
    x = np.ones(3)
    jf(x, x)
    jf.clear_cache()
    jf(x, x)
    assert jf.traces == 2


def test_jit_as_a_decorator_with_options():
    @cr.jit
    def g(x):
        return x + 1.0

    @cr.jit(static_argnums=1)
    def h(x, n):
        return x * n
    assert g.__name__ == "g" and h.__name__ == "h"
    np.testing.assert_array_equal(g(np.ones(2)), [2.0, 2.0])
    np.testing.assert_array_equal(h(np.ones(2), 3), [3.0, 3.0])


def test_a_closure_over_a_plain_array_is_baked_in_at_trace_time():
    """A sharp bit (as in JAX): a closed-over NumPy array is a constant of the graph."""
    w = np.array([1.0, 2.0])
    jf = cr.jit(lambda x: x * w)
    np.testing.assert_array_equal(jf(np.ones(2)), [1.0, 2.0])
    w = np.array([5.0, 5.0])  # rebinding the name does not reach the traced closure's cell
    jf2 = cr.jit(lambda x: x * w)
    np.testing.assert_array_equal(jf2(np.ones(2)), [5.0, 5.0])


# -- lower() and make_ir ---------------------------------------------------------------

def test_lower_exposes_the_optimised_and_raw_graph_and_the_source():
    def g(x, y):
        unused = cnp.exp(x)  # noqa: F841 -- dead code
        return cnp.sin(x) * y
    jf = cr.jit(g)
    x, y = np.ones(3), np.full(3, 2.0)
    low = jf.lower(x, y)
    assert jf.traces == 1
    raw = [e.prim.name for e in low.raw_ir.eqns]
    opt = [e.prim.name for e in low.ir.eqns]
    assert raw == ["exp", "sin", "multiply"]
    assert "exp" not in opt and "sin" in opt and "multiply" in opt
    assert low.source.startswith("def run(a0, a1):") and "sin" in low.source and "exp" not in low.source
    np.testing.assert_allclose(low.run(x, y)[0], np.sin(x) * y)
    jf(x, y)  # lower() filled the cache
    assert jf.traces == 1
    assert [v.shape for v in low.ir.invars] == [(3,), (3,)]
    assert low.out_shapes == [(3,)] and low.out_dtypes == [np.float64]


def test_make_ir_listing():
    listing = str(cr.make_ir(lambda x, y: cnp.exp(x * y))(1.0, np.ones(2)))
    assert listing == ("{ lambda a:f64[] b:f64[2] .\n"
                       "    c:f64[2] = multiply a b\n"
                       "    d:f64[2] = exp c\n"
                       "  in (d) }")


def test_make_ir_listing_shows_params_literals_dtypes_and_every_output():
    ir = cr.make_ir(lambda x, n: (cnp.sum(x[1:] * 2.0, axis=0), x.astype(np.float32), n + 1))(
        np.ones((3, 2)), np.int64(4))
    text = str(ir)
    lines = text.splitlines()
    assert lines[0] == "{ lambda a:f64[3,2] b:i64[] ."
    assert any("= getitem a" in ln for ln in lines), text
    assert any("multiply" in ln and "2.0" in ln for ln in lines), text
    assert any("= sum" in ln and "axis=(0,)" in ln for ln in lines), text
    assert any(":f32[3,2] = astype a" in ln for ln in lines), text
    assert any(":i64[] = add b 1" in ln for ln in lines), text
    assert lines[-1].startswith("  in (") and lines[-1].count(",") == 2, text
    assert repr(ir).startswith("<IR ")


def test_make_ir_of_a_pytree_function_keeps_the_trees():
    ir = cr.make_ir(lambda p: {"y": p["w"] * p["b"], "z": p["b"]})({"w": np.ones(2), "b": 2.0})
    assert len(ir.invars) == 2 and len(ir.outs) == 2
    assert ir.in_tree is not None and ir.out_tree is not None
    assert sorted(ir.out_tree.paths()) == ["['y']", "['z']"]


def test_make_ir_with_static_argnums():
    ir = cr.make_ir(lambda x, n: x ** n, static_argnums=1)(np.ones(2), 3)
    assert len(ir.invars) == 1
    assert "3" in str(ir)


def test_a_captured_tape_tensor_retraces_every_call_and_jit_warns():
    """A closure over a Tensor with requires_grad is found only by tracing: each call traces (and is right)."""
    w = cr.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    jf = cr.jit(lambda y: cnp.sum(y * w))
    with pytest.warns(RuntimeWarning, match=r"traced 10 times because it reads values it is not passed "
                                            r"\(Tensor of shape \(3,\)\).*pass them as arguments"):
        for _ in range(10):
            jf(np.ones(3)).backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.full(3, 10.0))
    assert jf.traces == 10
    passed = cr.jit(lambda y, w: cnp.sum(y * w))  # the fix the warning names: one trace
    for _ in range(10):
        passed(np.ones(3), w).backward()
    assert passed.traces == 1
    np.testing.assert_array_equal(w.grad.numpy(), np.full(3, 20.0))
