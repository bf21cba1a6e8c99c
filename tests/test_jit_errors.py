"""cr.jit's errors: Python needing a traced value, bad arguments, bad outputs.

Each error must name the operation, the user's line of code (file, line number
and the code itself -- not a line of chainrule) and what to write instead.
The oracle is the eager function, which runs, and the line numbers of this file.
"""
from __future__ import annotations

import inspect
import os
import re

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule._interpreters.staging import TracedValueError

X = np.array([0.5, -1.0, 2.0])
HERE = os.path.basename(__file__)


def _line_of(fn, text):
    """``file:line`` of the line of ``fn``'s source containing ``text``."""
    lines, start = inspect.getsourcelines(fn)
    for k, line in enumerate(lines):
        if text in line:
            return f"{HERE}:{start + k}"
    raise AssertionError(f"{text!r} not in the source of {fn}")


# -- Python needing a value: each function runs eagerly, and raises under jit ---------------

def branch(x):
    if cnp.sum(x) > 0:
        return x
    return -x


def while_loop(x):
    while cnp.max(x) < 10.0:
        x = x * 2.0
    return x


def to_float(x):
    s = float(cnp.sum(x))
    return x * s


def to_int(x):
    n = int(cnp.argmax(x))
    return x * n


def item(x):
    v = x[0].item()
    return x * v


def tolist(x):
    v = x.tolist()
    return cnp.array(v)


def as_numpy(x):
    a = np.asarray(x)
    return cnp.sum(a)


def python_index(x):
    k = [10.0, 20.0, 30.0][cnp.argmax(x)]
    return x * k


def python_range(x):
    n = range(cnp.argmax(x))
    return x * len(n)


def formatted(x):
    label = f"{cnp.sum(x):.3f}"
    return x, len(label)


def boolean_and(x):
    return x if (cnp.sum(x) > 0 and cnp.max(x) > 1) else -x


def asserted(x):
    assert cnp.min(x) > -5.0
    return x


def numpy_inside(x):
    # NumPy converts the list inside its own code: the error names the next line, not NumPy's
    n = np.size([x, x])
    return x * n


def rounded(x):
    return round(cnp.sum(x), 2)


def value_mask(x):
    return x[x > 0.0]


#: function -> (what the error names, the code of the line it names, what it says to do instead)
VALUE_CASES = [
    (branch, r"bool\(\)", "if cnp.sum(x) > 0:", "cnp.where"),
    (while_loop, r"bool\(\)", "while cnp.max(x) < 10.0:", "cnp.where"),
    (to_float, r"float\(\)", "s = float(cnp.sum(x))", "static_argnums"),
    (to_int, r"int\(\)", "n = int(cnp.argmax(x))", "static_argnums"),
    (item, r"\.item\(\)", "v = x[0].item()", "static_argnums"),
    (tolist, r"\.tolist\(\)", "v = x.tolist()", "static_argnums"),
    (as_numpy, r"conversion to a NumPy array", "a = np.asarray(x)", "without jit"),
    (python_index, r"as a Python integer", "k = [10.0, 20.0, 30.0][cnp.argmax(x)]", "static_argnums"),
    (python_range, r"as a Python integer", "n = range(cnp.argmax(x))", "static_argnums"),
    (formatted, r"formatting with \{:\.3f\}", 'label = f"{cnp.sum(x):.3f}"', "without jit"),
    (boolean_and, r"bool\(\)", "return x if (cnp.sum(x) > 0 and cnp.max(x) > 1) else -x", "cnp.where"),
    (asserted, r"bool\(\)", "assert cnp.min(x) > -5.0", "cnp.where"),
    (rounded, r"round\(\) \(cnp.round", "return round(cnp.sum(x), 2)", "without jit"),
    (numpy_inside, r"conversion to a NumPy array", "n = np.size([x, x])", "without jit"),
]


@pytest.mark.parametrize("f,what,code,instead", VALUE_CASES, ids=[c[0].__name__ for c in VALUE_CASES])
def test_a_value_needed_by_python_names_the_operation_the_line_and_the_fix(f, what, code, instead):
    f(X)  # eagerly it runs
    with pytest.raises(TracedValueError) as info:
        cr.jit(f)(X)
    msg = str(info.value)
    assert isinstance(info.value, TypeError)
    assert re.search(what, msg), msg
    assert f"at {_line_of(f, code)} (`{code}`)" in msg, msg
    assert instead in msg and "cnp.where" in msg and "static_argnums" in msg, msg
    assert "chainrule" + os.sep not in msg and "site-packages" not in msg, msg


@pytest.mark.parametrize("f,what,code,instead", VALUE_CASES[:4], ids=[c[0].__name__ for c in VALUE_CASES[:4]])
def test_the_same_errors_under_make_ir_and_inside_grad(f, what, code, instead):
    with pytest.raises(TracedValueError, match=what):
        cr.make_ir(f)(X)
    with pytest.raises(TracedValueError, match=re.escape(_line_of(f, code))):
        cr.grad(lambda x: cnp.sum(cr.jit(f)(x)))(X)
    with pytest.raises(TracedValueError, match=re.escape(_line_of(f, code))):
        cr.jit(cr.grad(lambda x: cnp.sum(f(x))))(X)


def test_a_mask_from_traced_values_says_the_shape_depends_on_them():
    np.testing.assert_array_equal(value_mask(X), X[X > 0])
    with pytest.raises(IndexError) as info:
        cr.jit(value_mask)(X)
    msg = str(info.value)
    assert "getitem" in msg and "boolean mask" in msg and "shape" in msg and "cr.jit" in msg, msg
    assert _line_of(value_mask, "return x[x > 0.0]") in msg, msg
    assert "cnp.where" in msg, msg
    # the fix it suggests works under jit
    fixed = cr.jit(lambda x: cnp.where(x > 0.0, x, 0.0))
    np.testing.assert_array_equal(fixed(X), np.where(X > 0, X, 0.0))


def test_a_constant_mask_works_under_jit():
    m = np.array([True, False, True])
    np.testing.assert_array_equal(cr.jit(lambda x: x[m] * 2.0)(X), X[m] * 2.0)


def test_the_error_is_raised_at_trace_time_and_the_cache_stays_clean():
    jf = cr.jit(branch)
    for _ in range(2):
        with pytest.raises(TracedValueError):
            jf(X)
    assert jf.traces == 2  # a failed trace is not cached
    ok = cr.jit(branch, static_argnums=())
    with pytest.raises(TracedValueError):
        ok(X)


def test_the_errors_fix_static_argnums_works():
    def scaled(x, n):
        if n > 1:
            return x * n
        return x
    with pytest.raises(TracedValueError, match=re.escape(_line_of(scaled, "if n > 1:"))):
        cr.jit(scaled)(X, 3)
    np.testing.assert_array_equal(cr.jit(scaled, static_argnums=1)(X, 3), X * 3)
    np.testing.assert_array_equal(cr.jit(scaled, static_argnames="n")(X, n=3), X * 3)
    np.testing.assert_array_equal(cr.jit(scaled, static_argnames="n")(X, 3), X * 3)  # by position too


def test_format_without_a_spec_and_str_do_not_need_the_value():
    seen = []

    def f(x):
        seen.append(f"{x}")
        seen.append(str(x))
        return x * 2.0
    np.testing.assert_array_equal(cr.jit(f)(X), 2.0 * X)
    assert all("f64[3]" in s for s in seen), seen


# -- bad arguments and outputs --------------------------------------------------------------

@pytest.mark.parametrize("bad", [3, "f", None.__class__, np.ones(2)], ids=["int", "str", "type-ok", "array"])
def test_jit_of_something_not_callable(bad):
    if callable(bad):
        cr.jit(bad)  # a class is callable: fine
        return
    with pytest.raises(TypeError, match=r"jit: expected a function, got .*pass the function itself"):
        cr.jit(bad)


def test_jit_of_a_call_result_says_pass_the_function():
    with pytest.raises(TypeError, match=r"f, not f\(x\)"):
        cr.jit(branch(X))


@pytest.mark.parametrize("out,path", [
    (lambda x: "done", "the output is a str"),
    (lambda x: (x, "done"), r"output \[1\] is a str"),
    (lambda x: {"loss": cnp.sum(x), "note": object()}, r"output \['note'\] is a object"),
    (lambda x: [x, print], r"output \[1\] is a builtin_function_or_method"),
], ids=["str", "tuple", "dict", "function"])
def test_an_output_that_is_not_an_array(out, path):
    with pytest.raises(TypeError, match=path + r".*returns arrays and numbers.*outside it"):
        cr.jit(out)(X)


def test_an_unhashable_static_argument():
    f = cr.jit(lambda x, sizes: x * len(sizes), static_argnums=1)
    np.testing.assert_array_equal(f(X, (1, 2)), X * 2)
    with pytest.raises(TypeError, match=r"static argument 1 is a list, which is not hashable.*tuple"):
        f(X, [1, 2])
    g = cr.jit(lambda x, sizes: x * len(sizes), static_argnames="sizes")
    with pytest.raises(TypeError, match=r"static argument 'sizes' is a list, which is not hashable"):
        g(X, sizes=[1, 2])
    with pytest.raises(TypeError, match=r"static argument 'sizes' is a list, which is not hashable"):
        g(X, [1, 2])


def test_an_unhashable_non_array_leaf():
    f = cr.jit(lambda x, opts: x * opts["k"])
    with pytest.raises(TypeError, match=r"not hashable"):
        f(X, {"k": 2.0, "extra": {1, 2}})


def test_static_argnums_that_do_not_fit_the_call():
    f = cr.jit(lambda x: x, static_argnums=3)
    with pytest.raises(ValueError, match=r"static_argnums \(3,\) does not fit a call with 1 positional argument"):
        f(X)


def test_a_failure_inside_the_compiled_code_names_the_primitive_and_shapes():
    f = cr.jit(lambda a, b: a @ b)
    f(np.ones((2, 3)), np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"matmul"):
        f(np.ones((2, 3)), np.ones((2, 2)))  # a new shape retraces, and matmul says why it fails


def test_a_complex_input_is_refused_under_a_transform_as_eagerly():
    z = np.array([1.0 + 1.0j])
    with pytest.raises(TypeError) as eager:
        cr.grad(lambda x: cnp.sum(x * x))(z)
    with pytest.raises(TypeError) as jitted:
        cr.grad(cr.jit(lambda x: cnp.sum(x * x)))(z)
    assert "complex" in str(eager.value) and "complex" in str(jitted.value)


# -- a traced number used as a size, shape, axis or count ----------------------------------

SIZES = {
    "zeros": lambda x, n: cnp.zeros(n) + cnp.sum(x),
    "ones": lambda x, n: cnp.ones(n) * x[0],
    "ones tuple": lambda x, n: cnp.ones((n, 2)) * x[0],
    "full": lambda x, n: cnp.full(n, 2.0) * x[0],
    "eye": lambda x, n: cnp.eye(n) * x[0],
    "arange": lambda x, n: cnp.arange(n) * x[0],
    "linspace": lambda x, n: cnp.linspace(0.0, 1.0, n) * x[0],
    "tile": lambda x, n: cnp.tile(x, n),
    "sum axis": lambda x, n: cnp.sum(x, axis=n - 2),
    "slice": lambda x, n: x[:n],
    "roll": lambda x, n: cnp.roll(x, n),
}


@pytest.mark.parametrize("name", list(SIZES))
def test_a_traced_number_as_a_size_says_make_it_static(name):
    fn = SIZES[name]
    fn(X, 2)  # eagerly it runs
    with pytest.raises(TracedValueError) as info:
        cr.jit(fn)(X, 2)
    msg = str(info.value)
    assert f"{HERE}:" in msg and "static_argnums" in msg, msg
    np.testing.assert_allclose(cr.jit(fn, static_argnums=1)(X, 2), fn(X, 2))  # the fix it names


@pytest.mark.parametrize("kw,err,match", [
    ({"static_argnums": "n"}, TypeError, r"static_argnums holds 'n'; it takes argument positions .*static_argnames"),
    ({"static_argnums": (1.0,)}, TypeError, r"static_argnums holds 1.0"),
    ({"static_argnames": (1,)}, TypeError, r"static_argnames holds 1; it takes parameter names .*static_argnums"),
    ({"static_argnames": "m"}, ValueError, r"static_argnames names 'm', but the function has no such parameter "
                                           r"\(its parameters: x, n\)"),
], ids=["num is a str", "num is a float", "name is an int", "unknown name"])
def test_bad_static_specs_are_named_when_jit_is_called(kw, err, match):
    def f(x, n):
        return x * n
    with pytest.raises(err, match=match):
        cr.jit(f, **kw)


def test_static_argnames_of_a_function_taking_kwargs():
    f = cr.jit(lambda x, **opts: x * opts["scale"] if opts["on"] else x, static_argnames=("on",))
    np.testing.assert_array_equal(f(X, on=True, scale=2.0), 2.0 * X)
    np.testing.assert_array_equal(f(X, on=False, scale=2.0), X)
