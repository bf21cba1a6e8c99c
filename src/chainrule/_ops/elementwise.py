"""Elementwise primitives: arithmetic, exponentials, trigonometry, selection.

Each primitive is one block: NumPy evaluation, one staged VJP rule per input,
the formula of each local derivative.  Their JVPs are derived ("elementwise":
the VJP formula applied to the tangent).  Broadcasting is never undone here:
the reverse engine sums every cotangent back to its input's shape.
"""
from __future__ import annotations

from typing import TypeVar

import numpy as np

from chainrule._core.primitive import TRACER_TYPES, _refuse_complex, bind, defprim
from chainrule._ops._series import chain, full, leibniz, neg, order, over
from chainrule._ops._series import sub as _sub
from chainrule._ops._wrap import EMPTY, batch_by_broadcasting, binary, dtype_of, peel, raw, refuse_keywords, unary

# -- arithmetic ----------------------------------------------------------------


def _float_only(expr):
    """A ``scalar`` expression for float dtypes only (NumPy's integer loops differ: x**-1 raises)."""
    return lambda dtype, size: expr if dtype.kind == "f" else None


#: Up to how many elements a compiled loop calling a math-library function (sin, tanh,
#: exp, ...) beats NumPy, which runs most of them with SIMD: one libm call per element
#: costs 10-20 ns against NumPy's 1-7 ns, and NumPy's ~0.4 us per call only weighs on
#: small arrays.  Measured on the (a) benchmark: fused wins at 16 elements, loses at 64.
_LIBM_LOOP_MAX = 32


def _libm(name, float_only=False):
    """The ``scalar`` expression ``np.<name>(x...)``, for small outputs computed in float64.

    Only float64: libm's float32 functions differ from NumPy's own float32 loops by
    several ulps, where float64 ones differ by at most one.  ``float_only``: not for
    integer dtypes either (NumPy's integer ``power`` raises on negative exponents).
    """
    def expr(dtype, size):
        if size > _LIBM_LOOP_MAX or dtype == np.float32 or (float_only and dtype.kind != "f"):
            return None
        return f"np.{name}({', '.join('{%d}' % i for i in range(2 if name in _BINARY else 1))})"
    return expr


_BINARY = ("arctan2", "hypot", "power")


add_p = defprim(
    "add", np.add,
    [lambda ans, x, y: lambda g: g,
     lambda ans, x, y: lambda g: g],
    scalar="({0} + {1})", taylor="linear",
    formulas=[("1", "1"), ("1", "1")],
    units=(-0.0, -0.0),
    notation=("{0} + {1}", "{0} + {1}"))

subtract_p = defprim(
    "subtract", np.subtract,
    [lambda ans, x, y: lambda g: g,
     lambda ans, x, y: lambda g: negative(g)],
    scalar="({0} - {1})", taylor="linear",
    formulas=[("1", "1"), ("-1", "-1")],
    units=(None, 0.0),
    notation=("{0} − {1}", "{0} - {1}"))

multiply_p = defprim(
    "multiply", np.multiply,
    [lambda ans, x, y: lambda g: multiply(g, y),
     lambda ans, x, y: lambda g: multiply(g, x)],
    scalar="({0} * {1})", taylor="bilinear",
    formulas=[("y", "y"), ("x", "x")],
    units=(1, 1),
    notation=("{0} · {1}", r"{0} \cdot {1}"))

def _divide_taylor(primals, series, ans, params):
    # q y = x: sum_j C(k, j) q_j y_{k-j} = x_k, solved for q_k
    K = order(series)
    (x, y), (sx, sy) = primals, series
    xs, ys, qs = full(x, sx, K), full(y, sy, K), [ans]
    for k in range(1, K + 1):
        qs.append(over(_sub(xs[k], leibniz(qs, ys, k, hi=k - 1)), y))
    return qs[1:]


divide_p = defprim(
    "divide", np.divide,
    [lambda ans, x, y: lambda g: divide(g, y),
     lambda ans, x, y: lambda g: negative(multiply(g, divide(ans, y)))],
    scalar="({0} / {1})",
    formulas=[("1/y", r"\frac{1}{y}"), ("-x/y^2", r"-\frac{x}{y^{2}}")],
    uses_ans=True, taylor=_divide_taylor,
    units=(None, 1),
    notation=("{0} / {1}", r"\frac{{{0}}}{{{1}}}"))

negative_p = defprim(
    "negative", np.negative,
    [lambda ans, x: lambda g: negative(g)],
    formulas=[("-1", "-1")],
    notation=("−{0}", "-{0}"), taylor="linear",
    scalar="(-{0})")


def _has_zero(v):
    """Whether some entry of ``v`` (of any example of a ``vmap`` batch) is 0: the guards' fast test."""
    v = peel(v)
    return v is None or not np.all(v)


_PY_NUMBERS = (int, float)


def _pow_dx(ans, x, y):
    if type(y) in _PY_NUMBERS or (type(y) not in TRACER_TYPES and np.ndim(y) == 0):
        if y == 0:
            return lambda g: multiply(g, 0.0)
        if y == 2:
            return lambda g: multiply(g, multiply(x, 2.0))
        return lambda g: multiply(g, multiply(y, power(x, y - 1)))
    # y x**(y-1) is exact wherever x != 0, y = 0 included (its y-derivative, 1/x, is the
    # mixed partial).  Only x = y = 0 is 0 * inf: taken as 0 there, with x made 1 in the
    # unselected branch so that no 0 * inf reaches that branch's own derivatives.
    if _has_zero(x) and _has_zero(y):
        both = where(raw(x) == 0, raw(y) == 0, False)
        x = where(both, 1.0, x)
        return lambda g: multiply(g, where(both, 0.0, multiply(y, power(x, subtract(y, 1)))))
    return lambda g: multiply(g, multiply(y, power(x, subtract(y, 1))))


def _pow_dy(ans, x, y):
    if not _has_zero(x):
        return lambda g: multiply(g, multiply(ans, log(x)))
    zero = raw(x) == 0  # d/dy x**y = x**y log x, taken as 0 at x = 0 (as JAX for y > 0)
    safe_x = where(zero, 1.0, x)
    return lambda g: multiply(g, where(zero, 0.0, multiply(ans, log(safe_x))))


def _power_taylor(primals, series, ans, params):
    # a constant scalar exponent p: a small integer by series products (x^2 = x x, exact at
    # x = 0); otherwise x y' = p y x' solved for y_k, where x has no zero.  Anything else
    # (a traced or array exponent, a zero in x): the rule derived from the JVP.
    (x, y), (sx, sy) = primals, series
    K = order(series)
    if sy is None and type(y) not in TRACER_TYPES and np.ndim(y) == 0:
        p = float(y)
        xs = full(x, sx, K)
        if p in (0.0, 1.0, 2.0, 3.0, 4.0):
            acc = [None] * (K + 1) if p == 0 else xs
            for _ in range(int(p) - 1):
                acc = [multiply(acc[0], x)] + [leibniz(acc, xs, k) for k in range(1, K + 1)]
            return acc[1:]
        if not _has_zero(x):
            ys = [ans]
            for k in range(1, K + 1):
                c = chain(ys, xs, k)
                ys.append(over(_sub(None if c is None else multiply(c, p), chain(xs, ys, k, lo=1)), x))
            return ys[1:]
    if power_p not in _DERIVED:
        from chainrule._interpreters.taylor import SHORTCUTS
        _DERIVED[power_p] = SHORTCUTS["jvp"](power_p)
    return _DERIVED[power_p](primals, series, ans, params)


_DERIVED: dict = {}   # primitive -> the Taylor rule derived from its JVP, for the fallbacks

def _power_impl(x, y):
    # x**2 as x*x (the same correctly rounded value): np.power's generic loop is 4x slower, as the ``**``
    # operator of NumPy arrays knows
    if type(y) in _PY_NUMBERS and y == 2 and type(x) is np.ndarray and x.dtype.kind == "f":
        return np.square(x)
    return np.power(x, y)


power_p = defprim(
    "power", _power_impl, [_pow_dx, _pow_dy],
    scalar=_libm("power", float_only=True),
    formulas=[("y*x^(y-1)", r"y\,x^{y-1}"), ("x^y*log(x)", r"x^{y}\ln x")],
    uses_ans=True, taylor=_power_taylor,
    units=(None, 1),
    notation=("{0}^{1}", "{0}^{{{1}}}"))

# -- exponentials, logarithms, roots --------------------------------------------

def _exp_taylor(primals, series, ans, params):
    # y' = y x'
    K = order(series)
    xs, ys = full(primals[0], series[0], K), [ans]
    for k in range(1, K + 1):
        ys.append(chain(ys, xs, k))
    return ys[1:]


exp_p = defprim(
    "exp", np.exp, [lambda ans, x: lambda g: multiply(g, ans)],
    formulas=[("exp(x)", r"e^{x}")], uses_ans=True, taylor=_exp_taylor,
    notation=("exp({0})", "e^{{{0}}}"),
    scalar=_libm("exp"))

def _log_taylor(primals, series, ans, params):
    # x y' = x', solved for y_k
    K = order(series)
    x = primals[0]
    xs, ys = full(x, series[0], K), [ans]
    for k in range(1, K + 1):
        ys.append(over(_sub(xs[k], chain(xs, ys, k, lo=1)), x))
    return ys[1:]


log_p = defprim(
    "log", np.log, [lambda ans, x: lambda g: divide(g, x)],
    formulas=[("1/x", r"\frac{1}{x}")], taylor=_log_taylor,
    notation=("log({0})", r"\ln {0}"),
    scalar=_libm("log"))

def _sqrt_taylor(primals, series, ans, params):
    # y y = x: 2 y_0 y_k = x_k - sum_{0<j<k} C(k, j) y_j y_{k-j}
    K = order(series)
    xs, ys = full(primals[0], series[0], K), [ans]
    twice = multiply(ans, 2.0)
    for k in range(1, K + 1):
        ys.append(over(_sub(xs[k], leibniz(ys, ys, k, lo=1, hi=k - 1)), twice))
    return ys[1:]


sqrt_p = defprim(
    "sqrt", np.sqrt, [lambda ans, x: lambda g: divide(multiply(g, 0.5), ans)],
    formulas=[("1/(2*sqrt(x))", r"\frac{1}{2\sqrt{x}}")], uses_ans=True, taylor=_sqrt_taylor,
    notation=("sqrt({0})", r"\sqrt{{{0}}}"),
    scalar="np.sqrt({0})")

# -- trigonometric, hyperbolic ------------------------------------------------

def _sin_cos_series(x, s, K, sin_x, cos_x):
    # sin' = cos x', cos' = -sin x', one order at a time
    xs, S, C = full(x, s, K), [sin_x], [cos_x]
    for k in range(1, K + 1):
        S.append(chain(C, xs, k))
        C.append(neg(chain(S, xs, k)))
    return S[1:], C[1:]


sin_p = defprim(
    "sin", np.sin, [lambda ans, x: lambda g: multiply(g, cos(x))],
    formulas=[("cos(x)", r"\cos x")],
    taylor=lambda primals, series, ans, params: _sin_cos_series(
        primals[0], series[0], order(series), ans, cos(primals[0]))[0],
    notation=("sin({0})", r"\sin {0}"),
    scalar=_libm("sin"))

cos_p = defprim(
    "cos", np.cos, [lambda ans, x: lambda g: negative(multiply(g, sin(x)))],
    formulas=[("-sin(x)", r"-\sin x")],
    taylor=lambda primals, series, ans, params: _sin_cos_series(
        primals[0], series[0], order(series), sin(primals[0]), ans)[1],
    notation=("cos({0})", r"\cos {0}"),
    scalar=_libm("cos"))


def _tanh_dx(ans, x):
    return lambda g: tanh_backward(g, ans)


def _tanh_backward_impl(g, y):
    """``g * (1 - y**2)`` with one new array where NumPy's ufuncs would make three."""
    out = y * y
    if type(out) is not np.ndarray or out.size < 4096:  # small: the operators' own loops are quickest
        return g * (1.0 - out)
    np.subtract(1.0, out, out=out)
    if type(g) is np.ndarray and g.shape == out.shape and g.dtype == out.dtype:
        return np.multiply(g, out, out=out)
    return np.multiply(g, out)


#: tanh's backward step as one primitive (PyTorch's ``tanh_backward``): one dispatch and
#: one allocation on the first-order path instead of three; its own rules, written with
#: library operations, keep every higher order exact.
tanh_backward_p = defprim(
    "tanh_backward", _tanh_backward_impl,
    [lambda ans, g, y: lambda c: tanh_backward(c, y),
     lambda ans, g, y: lambda c: multiply(c, multiply(-2.0, multiply(g, y)))],
    formulas=[("1 - y^2", r"1-y^{2}"), ("-2 g y", r"-2\,g\,y")],
    scalar="({0} * (1.0 - {1} * {1}))")


def tanh_backward(g, y):
    """``g * (1 - y**2)``: the cotangent of ``tanh`` (``y = tanh(x)``) from the downstream one ``g``."""
    return bind(tanh_backward_p, (g, y), {})


def _tanh_taylor(primals, series, ans, params):
    # y' = d x' with d = 1 - y^2
    K = order(series)
    xs, ys, ds = full(primals[0], series[0], K), [ans], [subtract(1.0, multiply(ans, ans))]
    for k in range(1, K + 1):
        ys.append(chain(ds, xs, k))
        if k < K:
            ds.append(neg(leibniz(ys, ys, k)))
    return ys[1:]


tanh_p = defprim(
    "tanh", np.tanh, [_tanh_dx], taylor=_tanh_taylor,
    formulas=[("1 - tanh(x)^2", r"1-\tanh^{2}x")], uses_ans=True,
    notation=("tanh({0})", r"\tanh {0}"),
    scalar=_libm("tanh"))

# -- more powers, exponentials and logarithms -------------------------------------

_LN2, _LN10 = float(np.log(2.0)), float(np.log(10.0))

square_p = defprim(
    "square", np.square, [lambda ans, x: lambda g: multiply(g, multiply(x, 2.0))],
    taylor=lambda primals, series, ans, params: [
        leibniz(xs, xs, k) for xs in [full(primals[0], series[0], order(series))] for k in range(1, len(xs))],
    formulas=[("2x", "2x")],
    notation=("{0}²", "{0}^{{2}}"),
    scalar="({0} * {0})")

def _reciprocal_taylor(primals, series, ans, params):
    # q x = 1
    K = order(series)
    x = primals[0]
    xs, qs = full(x, series[0], K), [ans]
    for k in range(1, K + 1):
        qs.append(neg(over(leibniz(qs, xs, k, hi=k - 1), x)))
    return qs[1:]


reciprocal_p = defprim(
    "reciprocal", np.reciprocal,
    [lambda ans, x: lambda g: negative(multiply(g, multiply(ans, ans)))],
    formulas=[("-1/x^2", r"-\frac{1}{x^{2}}")], uses_ans=True, taylor=_reciprocal_taylor,
    scalar=_float_only("({T}(1) / {0})"))

cbrt_p = defprim(
    "cbrt", np.cbrt, [lambda ans, x: lambda g: divide(g, multiply(3.0, multiply(ans, ans)))],
    formulas=[("1/(3 cbrt(x)^2)", r"\frac{1}{3\sqrt[3]{x}^{2}}")], uses_ans=True)

exp2_p = defprim(
    "exp2", np.exp2, [lambda ans, x: lambda g: multiply(g, multiply(ans, _LN2))],
    formulas=[("2^x ln 2", r"2^{x}\ln 2")], uses_ans=True,
    scalar=_libm("exp2"))

expm1_p = defprim(
    "expm1", np.expm1, [lambda ans, x: lambda g: multiply(g, add(ans, 1.0))],
    formulas=[("exp(x)", r"e^{x}")], uses_ans=True,
    scalar=_libm("expm1"))

log2_p = defprim(
    "log2", np.log2, [lambda ans, x: lambda g: divide(g, multiply(x, _LN2))],
    formulas=[("1/(x ln 2)", r"\frac{1}{x\ln 2}")],
    scalar=_libm("log2"))

log10_p = defprim(
    "log10", np.log10, [lambda ans, x: lambda g: divide(g, multiply(x, _LN10))],
    formulas=[("1/(x ln 10)", r"\frac{1}{x\ln 10}")],
    scalar=_libm("log10"))

log1p_p = defprim(
    "log1p", np.log1p, [lambda ans, x: lambda g: divide(g, add(x, 1.0))],
    formulas=[("1/(1+x)", r"\frac{1}{1+x}")],
    scalar=_libm("log1p"))

# d/dx log(e^x + e^y) = e^x / (e^x + e^y) = expit(x - y): finite for any inputs, exact at
# ties of huge values (where x - ans would round to 0) and 1 (0 for y) at x = inf.
def _share(scale, pick):
    """The rule of one input ``a`` of logaddexp(2) (other input ``b``): ``expit(scale (a - b))``."""
    def rule(ans, x, y):
        a, b = pick(x, y)
        if _has_inf(a) and _has_inf(b):  # inf - inf: equal infinities tie, split 1/2 : 1/2
            with np.errstate(invalid="ignore"):
                d = subtract(a, b)
            ar = raw(a)
            d = where(where(ar == raw(b), abs(ar) == np.inf, False), 0.0, d)
        else:
            d = subtract(a, b)
        if scale != 1.0:
            d = multiply(d, scale)
        s = _expit(d)
        return lambda g: multiply(g, s)
    return rule


def _has_inf(v):
    v = peel(v)
    return v is None or bool(np.isinf(v).any())


def _expit(v):
    from chainrule._ops.special import expit  # special is built on this module
    return expit(v)


def _first(x, y):
    return x, y


def _second(x, y):
    return y, x


logaddexp_p = defprim(
    "logaddexp", np.logaddexp, [_share(1.0, _first), _share(1.0, _second)],
    formulas=[("expit(x - y)", r"\sigma(x-y)"), ("expit(y - x)", r"\sigma(y-x)")])

logaddexp2_p = defprim(
    "logaddexp2", np.logaddexp2, [_share(_LN2, _first), _share(_LN2, _second)],
    formulas=[("expit((x - y) ln 2)", r"\sigma((x-y)\ln 2)"), ("expit((y - x) ln 2)", r"\sigma((y-x)\ln 2)")])


def _abs_dx(ans, x):
    # abs'(x) = 1 for x >= 0 (-0.0 and 0 included), -1 for x < 0: as JAX.  sign(x) + [x == 0]
    # keeps x's dtype and works on a vmap batch.
    xr = raw(x)
    w = add(sign(xr), equal(xr, 0))
    return lambda g: multiply(g, w)


abs_p = defprim(
    "abs", np.abs, [_abs_dx],
    formulas=[("sign(x) (1 at 0)", r"\operatorname{sign} x")],  # abs'(0) = 1, as JAX
    scalar="abs({0})", taylor="linear")

# -- more trigonometric and hyperbolic ---------------------------------------------

tan_p = defprim(
    "tan", np.tan, [lambda ans, x: lambda g: multiply(g, add(1.0, multiply(ans, ans)))],
    formulas=[("1 + tan(x)^2", r"1+\tan^{2}x")], uses_ans=True,
    scalar=_libm("tan"))

def _d_arcsin(x):
    return reciprocal(sqrt(subtract(1.0, multiply(x, x))))


arcsin_p = defprim(
    "arcsin", np.arcsin, [lambda ans, x: lambda g: multiply(g, _d_arcsin(x))],
    formulas=[("1/sqrt(1-x^2)", r"\frac{1}{\sqrt{1-x^{2}}}")],
    scalar=_libm("arcsin"))

arccos_p = defprim(
    "arccos", np.arccos, [lambda ans, x: lambda g: negative(multiply(g, _d_arcsin(x)))],
    formulas=[("-1/sqrt(1-x^2)", r"-\frac{1}{\sqrt{1-x^{2}}}")],
    scalar=_libm("arccos"))

arctan_p = defprim(
    "arctan", np.arctan, [lambda ans, x: lambda g: divide(g, add(1.0, multiply(x, x)))],
    formulas=[("1/(1+x^2)", r"\frac{1}{1+x^{2}}")],
    scalar=_libm("arctan"))


def _arctan2_rule(sign, num):
    def rule(ans, y, x):
        return lambda g: multiply(g, divide(multiply(sign, num(y, x)), add(multiply(x, x), multiply(y, y))))
    return rule


arctan2_p = defprim(
    "arctan2", np.arctan2,
    [_arctan2_rule(1.0, lambda y, x: x), _arctan2_rule(-1.0, lambda y, x: y)],
    formulas=[("x/(x^2+y^2)", r"\frac{x}{x^{2}+y^{2}}"), ("-y/(x^2+y^2)", r"-\frac{y}{x^{2}+y^{2}}")],
    scalar=_libm("arctan2"))


def _hypot_rule(pick):
    def rule(ans, x, y):
        v = pick(x, y)[0]
        if _has_zero(ans):  # hypot(0, 0): derivative 0 (0/0), as norm's at the zero vector
            zero = raw(ans) == 0
            return lambda g: multiply(g, where(zero, 0.0, divide(v, where(zero, 1.0, ans))))
        return lambda g: multiply(g, divide(v, ans))
    return rule


hypot_p = defprim(
    "hypot", np.hypot, [_hypot_rule(_first), _hypot_rule(_second)],
    formulas=[("x/hypot(x,y)", r"\frac{x}{\sqrt{x^{2}+y^{2}}}"), ("y/hypot(x,y)", r"\frac{y}{\sqrt{x^{2}+y^{2}}}")],
    uses_ans=True,
    scalar=_libm("hypot"))

sinh_p = defprim(
    "sinh", np.sinh, [lambda ans, x: lambda g: multiply(g, cosh(x))],
    formulas=[("cosh(x)", r"\cosh x")],
    scalar=_libm("sinh"))

cosh_p = defprim(
    "cosh", np.cosh, [lambda ans, x: lambda g: multiply(g, sinh(x))],
    formulas=[("sinh(x)", r"\sinh x")],
    scalar=_libm("cosh"))

arcsinh_p = defprim(
    "arcsinh", np.arcsinh,
    [lambda ans, x: lambda g: divide(g, sqrt(add(multiply(x, x), 1.0)))],
    formulas=[("1/sqrt(x^2+1)", r"\frac{1}{\sqrt{x^{2}+1}}")],
    scalar=_libm("arcsinh"))

arccosh_p = defprim(
    "arccosh", np.arccosh,
    [lambda ans, x: lambda g: divide(g, sqrt(subtract(multiply(x, x), 1.0)))],
    formulas=[("1/sqrt(x^2-1)", r"\frac{1}{\sqrt{x^{2}-1}}")],
    scalar=_libm("arccosh"))

arctanh_p = defprim(
    "arctanh", np.arctanh,
    [lambda ans, x: lambda g: divide(g, subtract(1.0, multiply(x, x)))],
    formulas=[("1/(1-x^2)", r"\frac{1}{1-x^{2}}")],
    scalar=_libm("arctanh"))

# -- rounding and sign: zero derivative, like comparisons (as JAX) -------------------

# No derivative, but they broadcast: vmap them like elementwise primitives.
_ROUNDING = {name: defprim(name, getattr(np, name), [None], jvp=None, batch=batch_by_broadcasting,
                           scalar=_float_only(f"np.{name}({{0}})"))
             for name in ("floor", "ceil", "trunc", "sign")}
round_p = defprim("round", lambda x, decimals: np.round(x, decimals), [None], jvp=None,
                  batch=batch_by_broadcasting)

# -- selection ---------------------------------------------------------------
# Ties split the gradient evenly, as JAX does: maximum'(x, x) = (1/2, 1/2).


def _select_dx(pick):
    def rule(ans, x, y):
        xr, yr = raw(x), raw(y)
        w = np.where(pick(xr, yr), 1.0, np.where(xr == yr, 0.5, 0.0)).astype(dtype_of(ans), copy=False)
        return lambda g: multiply(g, w)
    return rule


maximum_p = defprim(
    "maximum", np.maximum,
    [_select_dx(np.greater), lambda ans, x, y: _select_dx(np.greater)(ans, y, x)],
    formulas=[("[x > y] (1/2 at ties)", r"[x>y]"), ("[y > x] (1/2 at ties)", r"[y>x]")],
    scalar="({0} if ({0} > {1} or {0} != {0}) else {1})", taylor="linear")

minimum_p = defprim(
    "minimum", np.minimum,
    [_select_dx(np.less), lambda ans, x, y: _select_dx(np.less)(ans, y, x)],
    formulas=[("[x < y] (1/2 at ties)", r"[x<y]"), ("[y < x] (1/2 at ties)", r"[y<x]")],
    scalar="({0} if ({0} < {1} or {0} != {0}) else {1})", taylor="linear")

where_p = defprim(
    "where", np.where,
    [None,
     lambda ans, c, x, y: lambda g: where(c, g, 0.0),
     lambda ans, c, x, y: lambda g: where(c, 0.0, g)],
    formulas=[None, ("[c]", r"[c]"), ("[not c]", r"[\lnot c]")],
    scalar="({1} if {r0} else {2})", taylor="linear")

# -- dtype and gradient control -------------------------------------------------

astype_p = defprim(
    "astype", lambda x, dtype: np.asarray(x).astype(dtype),
    # the reverse engine casts every cotangent to its input's dtype
    [lambda ans, x, dtype: lambda g: g],
    jvp="linear", formulas=[("1", "1")], batch=batch_by_broadcasting,
    noop=lambda x, dtype: np.dtype(dtype) == x.dtype, fresh=True, scalar="{0}")

stop_gradient_p = defprim("stop_gradient", lambda x: x, [None], jvp=None, batch=batch_by_broadcasting,
    scalar="{0}")

# -- comparisons: no derivative, they see through every level ---------------------

_CMP = {}
for _name, _op in (("less", "<"), ("less_equal", "<="), ("greater", ">"), ("greater_equal", ">="),
                  ("equal", "=="), ("not_equal", "!=")):
    _CMP[_name] = defprim(_name, getattr(np, _name), [None, None], jvp=None, batch=batch_by_broadcasting,
                          scalar=f"({{0}} {_op} {{1}})")

# -- floating-point tests: no derivative, boolean results (as comparisons) ---------------

_TESTS = {name: defprim(name, getattr(np, name), [None], jvp=None, batch=batch_by_broadcasting)
          for name in ("isnan", "isinf", "isfinite")}

# -- public functions ---------------------------------------------------------

add = binary(add_p, np.add)
subtract = binary(subtract_p, np.subtract)
multiply = binary(multiply_p, np.multiply)
divide = binary(divide_p, np.divide)
true_divide = binary(divide_p, np.true_divide, "true_divide")
power = binary(power_p, np.power)
maximum = binary(maximum_p, np.maximum, doc="Elementwise maximum; at ties the gradient is split evenly (as JAX).")
minimum = binary(minimum_p, np.minimum, doc="Elementwise minimum; at ties the gradient is split evenly (as JAX).")
negative = unary(negative_p, np.negative)
exp = unary(exp_p, np.exp)
log = unary(log_p, np.log)
sqrt = unary(sqrt_p, np.sqrt, doc="Elementwise square root; ``sqrt'(0) = inf`` (as JAX).")
sin = unary(sin_p, np.sin)
cos = unary(cos_p, np.cos)
tanh = unary(tanh_p, np.tanh)

square = unary(square_p, np.square)
reciprocal = unary(reciprocal_p, np.reciprocal)
cbrt = unary(cbrt_p, np.cbrt)
exp2 = unary(exp2_p, np.exp2)
expm1 = unary(expm1_p, np.expm1)
log2 = unary(log2_p, np.log2)
log10 = unary(log10_p, np.log10)
log1p = unary(log1p_p, np.log1p)
logaddexp = binary(logaddexp_p, np.logaddexp, doc="``numpy.logaddexp``: log(exp(x) + exp(y)), stable, with a stable derivative.")
logaddexp2 = binary(logaddexp2_p, np.logaddexp2)
abs = unary(abs_p, np.abs, doc="Elementwise absolute value; ``abs'(0) = 1`` (as JAX).")  # noqa: A001
absolute = abs
tan = unary(tan_p, np.tan)
arcsin = unary(arcsin_p, np.arcsin)
arccos = unary(arccos_p, np.arccos)
arctan = unary(arctan_p, np.arctan)
arctan2 = binary(arctan2_p, np.arctan2)
hypot = binary(hypot_p, np.hypot)
sinh = unary(sinh_p, np.sinh)
cosh = unary(cosh_p, np.cosh)
arcsinh = unary(arcsinh_p, np.arcsinh)
arccosh = unary(arccosh_p, np.arccosh)
arctanh = unary(arctanh_p, np.arctanh)
floor = unary(_ROUNDING["floor"], np.floor, doc="``numpy.floor``; its derivative is zero (as JAX).")
ceil = unary(_ROUNDING["ceil"], np.ceil, doc="``numpy.ceil``; its derivative is zero (as JAX).")
trunc = unary(_ROUNDING["trunc"], np.trunc, doc="``numpy.trunc``; its derivative is zero (as JAX).")
sign = unary(_ROUNDING["sign"], np.sign, doc="``numpy.sign``; its derivative is zero (as JAX).")
isnan = unary(_TESTS["isnan"], np.isnan, doc="""``numpy.isnan``: a boolean array, no derivative.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.isnan(cr.tensor([1.0, float("nan")], requires_grad=True))
    tensor([False,  True])
    """)
isinf = unary(_TESTS["isinf"], np.isinf, doc="``numpy.isinf``: a boolean array, no derivative.")
isfinite = unary(_TESTS["isfinite"], np.isfinite, doc="``numpy.isfinite``: a boolean array, no derivative.")


def round(a, decimals=0, out=None):  # noqa: A001 (NumPy's name)
    """``numpy.round(a, decimals)``; its derivative is zero (as JAX).

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.round(cnp.array([1.234, 2.5]), 1)
    array([1.2, 2.5])
    >>> cr.grad(lambda x: cnp.sum(cnp.round(x) * x))(cnp.array([1.234, 2.5]))  # round(x) is a constant
    array([1., 2.])
    """
    if type(a) in TRACER_TYPES:
        refuse_keywords("round", out=out)
        return a._process(round_p, (a,), {"decimals": int(decimals)})
    return np.round(a, decimals, out)


def clip(a, a_min=np._NoValue, a_max=np._NoValue, out=None, *, min=np._NoValue, max=np._NoValue,  # noqa: A002
         **kwargs):
    """``numpy.clip``: ``minimum(maximum(a, a_min), a_max)``, so at a bound the gradient is split (as JAX).

    ``min``/``max`` are NumPy 2's names for the bounds; ``dtype`` casts first;
    ``out`` and the other ufunc keywords are refused for traced values.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(lambda x: cnp.clip(x, 0.0, 1.0).sum())(cnp.array([-1.0, 0.5, 2.0]))
    array([0., 1., 0.])
    """
    lo = min if a_min is np._NoValue else a_min
    hi = max if a_max is np._NoValue else a_max
    lo, hi = (None if lo is np._NoValue else lo), (None if hi is np._NoValue else hi)
    if not any(type(v) in TRACER_TYPES for v in (a, lo, hi)):
        return np.clip(a, lo, hi, out, **kwargs)
    if lo is None and hi is None:
        raise ValueError("clip: give a_min, a_max or both")
    dtype = kwargs.pop("dtype", None)
    refuse_keywords("clip", out=out, **kwargs)
    if dtype is not None:
        a = astype(a, dtype)
    if lo is not None:
        a = maximum(a, lo)
    if hi is not None:
        a = minimum(a, hi)
    return a


less = binary(_CMP["less"], np.less)
less_equal = binary(_CMP["less_equal"], np.less_equal)
greater = binary(_CMP["greater"], np.greater)
greater_equal = binary(_CMP["greater_equal"], np.greater_equal)
equal = binary(_CMP["equal"], np.equal)
not_equal = binary(_CMP["not_equal"], np.not_equal)


def where(condition, x, y):
    """``numpy.where(condition, x, y)``, differentiable in ``x`` and ``y``.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(lambda x: cnp.where(x > 0, x, 0.0).sum())(cnp.array([-1.0, 2.0]))
    array([0., 1.])
    """
    c = raw(condition)
    if type(x) in TRACER_TYPES or type(y) in TRACER_TYPES or type(c) in TRACER_TYPES:  # c: batched
        return bind(where_p, (c, x, y), EMPTY)
    return np.where(c, x, y)


def astype(x, dtype):
    """``x.astype(dtype)``; the derivative is cast back to ``x``'s dtype.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cnp.astype(cnp.array([1.5, 2.0]), np.float32)
    array([1.5, 2. ], dtype=float32)
    >>> cr.grad(lambda x: cnp.sum(cnp.astype(x, np.float32) ** 2))(np.array([1.5, 2.0]))
    array([3., 4.])
    """
    dtype = np.dtype(dtype)
    if type(x) in TRACER_TYPES:
        if x.dtype == dtype:
            return x
        if dtype.kind == "c" and x._no_complex:
            _refuse_complex(astype_p, dtype)
        if not np.issubdtype(dtype, np.floating):  # integers carry no derivative (as JAX)
            x = stop_gradient(x)  # a plain value, or a tape Tensor that records nothing
            if type(x) not in TRACER_TYPES:
                return np.asarray(x).astype(dtype)
        return x._process(astype_p, (x,), {"dtype": dtype})
    return np.asarray(x).astype(dtype)


T = TypeVar("T")


def stop_gradient(x: T) -> T:
    """``x`` with zero derivative at every level of differentiation.

    >>> import chainrule as cr
    >>> cr.grad(lambda x: x * cr.stop_gradient(x))(3.0)
    np.float64(3.0)
    """
    if type(x) in TRACER_TYPES:
        return bind(stop_gradient_p, (x,), EMPTY)
    return x
