"""Every NumPy parameter of every API.md §4 function is accepted (and tested here) or refused by name.

The lists of parameters come from ``inspect.signature`` of NumPy's (and SciPy's)
own functions, so a parameter NumPy adds, or one this file forgets, fails
``test_every_numpy_keyword_is_implemented_or_refused`` until it is classified:

* implemented -- a call in ``CASES`` uses it, and that call is checked against
  NumPy's value, against central differences (both modes, order 2) and, under
  ``vmap``, against a loop;
* refused -- ``REFUSED`` holds a non-default value, and passing it to a traced
  value raises ``TypeError``/``NotImplementedError`` naming the function and
  the keyword (and what to do instead).

Nothing may be silently ignored.
"""
import inspect

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.testing import check_grads

special = pytest.importorskip("scipy.special")

# -- the §4 names (API.md), by namespace ------------------------------------------------------

UFUNCS = """add subtract multiply divide true_divide negative power square sqrt cbrt reciprocal abs sign
maximum minimum exp exp2 expm1 log log2 log10 log1p logaddexp logaddexp2 sin cos tan arcsin arccos arctan
arctan2 hypot sinh cosh tanh arcsinh arccosh arctanh floor ceil trunc""".split()
NUMPY = UFUNCS + """clip where round sum mean prod max min amax amin var std cumsum cumprod dot matmul
tensordot einsum outer inner trace diag diagonal reshape ravel transpose swapaxes moveaxis expand_dims
squeeze broadcast_to concatenate stack hstack vstack split tile repeat flip roll pad triu tril take
take_along_axis sort array asarray zeros ones zeros_like ones_like full eye arange linspace""".split()
LINALG = "inv solve det slogdet cholesky norm eigh".split()
SPECIAL = "erf logsumexp expit logit softplus gammaln".split()
SPECIAL_UFUNCS = {"erf", "expit", "logit", "gammaln"}

ALL = ([("numpy", n) for n in NUMPY] + [("linalg", n) for n in LINALG]
       + [("special", n) for n in SPECIAL])


def _theirs(ns, name):
    return getattr({"numpy": np, "linalg": np.linalg, "special": special}[ns], name)


def _ours(ns, name):
    return getattr({"numpy": cnp, "linalg": cnp.linalg, "special": cnp.special}[ns], name)


def _is_ufunc(ns, name):
    return name in UFUNCS or name in SPECIAL_UFUNCS


#: the signatures checked are NumPy 2.4's, the first to give its ufuncs and C functions an
#: ``inspect.signature``; older NumPy (pyproject allows 2.0) cannot be read for them, and its
#: own Python signatures differ (2.0-2.3: ``reshape(a, newshape)``; 2.0: ``clip`` without
#: ``min``/``max``), so there the two signature tests skip and the value tests translate
NUMPY_2_4 = np.lib.NumpyVersion(np.__version__) >= "2.4.0"
NUMPY_2_1 = np.lib.NumpyVersion(np.__version__) >= "2.1.0"


def _params(fn):
    return list(inspect.signature(fn).parameters.values())


def _their_params(ns, name):
    """NumPy's (SciPy's) parameters of ``name``, as NumPy >= 2.4 gives them."""
    if not NUMPY_2_4 and ns != "special":
        pytest.skip(f"the signatures checked are NumPy 2.4's; NumPy {np.__version__} gives other ones or none")
    try:
        return _params(_theirs(ns, name))
    except ValueError:
        if ns != "special" or NUMPY_2_4:
            raise
        pytest.skip(f"NumPy {np.__version__} gives the ufunc {ns}.{name} no signature (2.4 does)")


def _keywords(ns, name):
    """NumPy's parameters a caller may pass by name, with a default (the optional keywords)."""
    return [p.name for p in _their_params(ns, name)
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is not p.empty]


# -- the signature, compared automatically ------------------------------------------------------

@pytest.mark.parametrize("ns,name", ALL, ids=[f"{ns}.{n}" for ns, n in ALL])
def test_signature_accepts_every_numpy_parameter(ns, name):
    theirs, ours = _their_params(ns, name), _params(_ours(ns, name))
    by_name = {p.name: p for p in ours}
    var_kw = any(p.kind is p.VAR_KEYWORD for p in ours)
    for p in theirs:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
            continue
        assert p.name in by_name or var_kw, f"{ns}.{name} has no parameter {p.name!r} (NumPy's signature: {theirs})"
        if p.name in by_name and p.default is not p.empty:
            mine = by_name[p.name].default
            assert mine is p.default or (type(mine) is type(p.default) and mine == p.default) or \
                (p.default is np._NoValue), f"{ns}.{name}: {p.name} defaults to {mine!r}, NumPy's to {p.default!r}"
    # the positional parameters come in NumPy's order
    pos = [p for p in theirs if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    mine = [p for p in ours if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    assert len(mine) >= len(pos) or any(p.kind is p.VAR_POSITIONAL for p in ours), (name, pos, mine)
    for t, o in zip(pos, mine):
        assert t.kind is t.POSITIONAL_ONLY or t.name == o.name, f"{ns}.{name}: positional {t.name} vs {o.name}"


# -- refused keywords: a non-default value, and the refusal names function and keyword ----------

#: A non-default value of each refused keyword (by keyword name; per function where it differs).
REFUSE_VALUE = {"out": np.empty(()), "where": False, "casting": "unsafe", "order": "F", "subok": False,
                "signature": "dd->d", "like": np.empty(0), "device": "gpu", "copy": False,
                "ndmax": 1, "return_sign": True, "axes": [(-2, -1), (-2, -1), (-2, -1)], "axis": -1,
                "keepdims": True, "descending": True}
REFUSED = {
    **{n: {"out", "where", "casting", "order", "subok", "signature"} for n in UFUNCS + sorted(SPECIAL_UFUNCS)},
    "clip": {"out"}, "round": {"out"}, "sum": {"out"}, "mean": {"out"}, "prod": {"out"}, "max": {"out"},
    "min": {"out"}, "amax": {"out"}, "amin": {"out"}, "var": {"out"}, "std": {"out"}, "cumsum": {"out"},
    "cumprod": {"out"}, "dot": {"out"}, "outer": {"out"}, "trace": {"out"}, "einsum": {"out"},
    "matmul": {"out", "axes", "axis", "keepdims", "casting", "order", "subok", "signature"},
    "reshape": {"copy"}, "broadcast_to": {"subok"}, "concatenate": {"out", "casting"},
    "stack": {"out", "casting"}, "hstack": {"casting"}, "vstack": {"casting"}, "take": {"out"},
    "sort": {"order", "descending"}, "array": {"order", "subok", "ndmax", "like"}, "asarray": {"order", "device", "like"},
    "full": {"order", "device", "like"}, "linspace": {"device"}, "logsumexp": {"return_sign"},
}
REFUSE_OVERRIDE = {("array", "subok"): True, ("broadcast_to", "subok"): True, ("sort", "order"): "f0",
                   ("asarray", "order"): "F", ("full", "order"): "F", ("einsum", "out"): np.empty(())}


def _refused_call(name, kw, x):
    f = getattr(cnp, name, None) or getattr(cnp.special, name)
    v = REFUSE_OVERRIDE.get((name, kw), REFUSE_VALUE[kw])
    two = {"matmul": (x, x), "dot": (x, x), "outer": (x, x), "einsum": ("ij,jk->ik", x, x)}
    args = two.get(name) or ((x, x) if name in UFUNCS and _binary(name) else
                             ([x, x],) if name in ("concatenate", "stack", "hstack", "vstack") else
                             (x, (4,)) if name == "reshape" else (x, (3, 2, 2)) if name == "broadcast_to" else
                             (x, [0]) if name == "take" else (x, 0.0, 1.0) if name == "clip" else
                             ((2, 2), x) if name == "full" else (0.0, x) if name == "linspace" else (x,))
    return f(*args, **{kw: v})


def _binary(name):
    return _theirs("numpy", name).nin == 2


REFUSAL_CASES = sorted((n, k) for n, ks in REFUSED.items() for k in ks)


@pytest.mark.parametrize("name,kw", REFUSAL_CASES, ids=[f"{n}-{k}" for n, k in REFUSAL_CASES])
def test_a_refused_keyword_is_named_with_what_to_do(name, kw):
    x = np.array([[0.3, 0.6], [0.2, 0.4]])
    with pytest.raises((TypeError, NotImplementedError)) as info:
        cr.grad(lambda v: cnp.sum(_refused_call(name, kw, v)))(x)
    msg = str(info.value)
    assert msg.startswith(f"{name}:") and kw in msg, msg
    if name != "sort":
        assert ";" in msg  # ... and says what to do


# -- implemented keywords: values, derivatives, vmap ------------------------------------------

RNG = np.random.default_rng(0)
X = RNG.uniform(0.2, 0.9, size=(3, 4))
SQ = RNG.normal(size=(3, 3))
SPD = SQ @ SQ.T + 3 * np.eye(3)
MASK = np.array([[True, False, True, True], [False, True, True, True], [True, True, False, True]])


class V:
    """Where the traced argument goes in a case's arguments (the primal is the case's ``x``)."""


def _sym(a):
    return (a + cnp.swapaxes(a, -1, -2)) / 2  # cholesky and eigh read a symmetric matrix


#: name -> [(kwargs, args with V for the traced argument, x)].
CASES = {
    "clip": [({"a_min": 0.3, "a_max": 0.7}, (V,), X), ({"min": 0.3}, (V,), X),
             ({"max": 0.5, "dtype": np.float64}, (V,), X)],
    "round": [({"decimals": 1}, (V,), X)],
    "sum": [({"axis": 1, "keepdims": True, "initial": 1.5, "where": MASK}, (V,), X), ({"dtype": np.float64}, (V,), X)],
    "mean": [({"axis": 0, "keepdims": True, "where": MASK, "dtype": np.float64}, (V,), X)],
    "prod": [({"axis": 1, "keepdims": True, "initial": 2.0, "where": MASK, "dtype": np.float64}, (V,), X)],
    **{n: [({"axis": 1, "keepdims": True, "initial": 0.5, "where": MASK}, (V,), X)]
       for n in ("max", "min", "amax", "amin")},
    **{n: [({"axis": 1, "dtype": np.float64, "ddof": 1, "keepdims": True, "where": MASK}, (V,), X),
           ({"correction": 1, "mean": X.mean(1, keepdims=True), "axis": 1}, (V,), X)] for n in ("var", "std")},
    **{n: [({"axis": 1, "dtype": np.float64}, (V,), X)] for n in ("cumsum", "cumprod")},
    "matmul": [({"dtype": np.float64}, (V, SQ), SQ)],
    "tensordot": [({"axes": ([1], [0])}, (V, X.T), X)],
    "einsum": [({"optimize": True, "dtype": np.float64}, ("ij,jk->ik", V, X.T), X)],
    "trace": [({"offset": 1, "axis1": 1, "axis2": 0, "dtype": np.float64}, (V,), X)],
    "diag": [({"k": 1}, (V,), X)],
    "diagonal": [({"offset": -1, "axis1": 1, "axis2": 0}, (V,), X)],
    "reshape": [({"order": "F"}, (V, (2, 6)), X)],
    "ravel": [({"order": "F"}, (V,), X)],
    "transpose": [({"axes": (1, 0)}, (V,), X)],
    "squeeze": [({"axis": 0}, (V,), X[None])],
    "concatenate": [({"axis": 1, "dtype": np.float64}, ([V, X],), X)],
    "stack": [({"axis": 1, "dtype": np.float64}, ([V, X],), X)],
    "hstack": [({"dtype": np.float64}, ([V, X],), X)],
    "vstack": [({"dtype": np.float64}, ([V, X],), X)],
    "split": [({"axis": 1}, (V, 2), X)],
    "repeat": [({"axis": 1}, (V, 2), X)],
    "flip": [({"axis": 1}, (V,), X)],
    "roll": [({"axis": 1}, (V, 1), X)],
    "pad": [({"mode": "reflect"}, (V, 2), X)],
    "triu": [({"k": 1}, (V,), X)],
    "tril": [({"k": -1}, (V,), X)],
    "take": [({"axis": 1, "mode": "wrap"}, (V, [0, 5, -7]), X), ({"axis": 0, "mode": "clip"}, (V, [-1, 4]), X)],
    "take_along_axis": [({"axis": 1}, (V, np.argsort(X, axis=1)), X)],
    "sort": [({"axis": 0, "kind": "mergesort"}, (V,), X), ({"axis": 0, "stable": True}, (V,), X)],
    "array": [({"dtype": np.float64, "copy": False, "ndmin": 3}, (V,), X)],
    "asarray": [({"dtype": np.float64, "copy": True}, (V,), X)],
    "full": [({"dtype": np.float64}, ((2, 2), V), np.float64(0.5))],
    "linspace": [({"num": 4, "endpoint": False, "retstep": True, "dtype": np.float64, "axis": 1},
                  (V, X[:, 1]), X[:, 0])],
    "cholesky": [({"upper": True}, (V,), SPD)],
    "norm": [({"ord": "nuc", "axis": (1, 0), "keepdims": True}, (V,), X)],
    "eigh": [({"UPLO": "U"}, (V,), SPD)],
    "logsumexp": [({"axis": 1, "b": X[:1], "keepdims": True}, (V,), X)],
}
#: Constants (their traced argument only lends its shape and dtype): value checks only.
CONSTANT_CASES = {
    "zeros_like": [{"dtype": np.float32, "order": "F", "subok": False, "shape": (2, 5), "device": "cpu"}],
    "ones_like": [{"dtype": np.float32, "order": "F", "subok": False, "shape": (2, 5), "device": "cpu"}],
}
#: Functions of shapes and numbers only (no traced argument can reach them): NumPy's keywords, passed on.
PLAIN_CASES = {
    "zeros": [(((2, 3),), {"dtype": np.float32, "order": "F", "device": "cpu", "like": np.empty(0)})],
    "ones": [(((2, 3),), {"dtype": np.float32, "order": "F", "device": "cpu", "like": np.empty(0)})],
    "eye": [((3,), {"M": 4, "k": 1, "dtype": np.float32, "order": "F", "device": "cpu", "like": np.empty(0)})],
    "arange": [((1,), {"stop": 7, "step": 2, "dtype": np.float32, "device": "cpu", "like": np.empty(0)})],
}
#: Ufuncs: ``dtype`` is their one implemented keyword (checked for every one below).
UFUNC_IMPLEMENTED = {"dtype"}


def _implemented(ns, name):
    if _is_ufunc(ns, name):
        return UFUNC_IMPLEMENTED
    cases = [c[0] for c in CASES.get(name, [])] + CONSTANT_CASES.get(name, []) + \
        [kw for _, kw in PLAIN_CASES.get(name, [])]
    return set().union(*cases) if cases else set()


@pytest.mark.parametrize("ns,name", ALL, ids=[f"{ns}.{n}" for ns, n in ALL])
def test_every_numpy_keyword_is_implemented_or_refused(ns, name):
    missing = [k for k in _keywords(ns, name)
               if k not in _implemented(ns, name) and k not in REFUSED.get(name, set())]
    assert not missing, f"{ns}.{name}: NumPy's keywords {missing} are neither tested as implemented nor refused"


def _call(ns, name, kw, args, fn_ns=None):
    return (_theirs if fn_ns == "theirs" else _ours)(ns, name)(*args, **kw)


def _ns_of(name):
    return "linalg" if name in LINALG else "special" if name in SPECIAL else "numpy"


def _sum_all(out):
    if isinstance(out, (tuple, list)):
        return sum(cnp.sum(cnp.sin(o)) for o in out)
    return cnp.sum(cnp.sin(out))


CASE_LIST = [(n, i) for n, cs in CASES.items() for i in range(len(cs))]


def _put(args, v):
    return tuple(v if a is V else [v if b is V else b for b in a] if isinstance(a, list) else a for a in args)


def _pairs(got, want):
    return zip(got, want) if isinstance(want, (tuple, list)) else [(got, want)]


@pytest.mark.parametrize("name,i", CASE_LIST, ids=[f"{n}-{i}" for n, i in CASE_LIST])
def test_implemented_keywords_match_numpy_in_every_mode(name, i):
    ns = _ns_of(name)
    kw, args, x = CASES[name][i]
    prep = _sym if name in ("cholesky", "eigh") else (lambda v: v)

    def f(v):
        return _call(ns, name, kw, _put(args, prep(v)))

    if name == "clip" and not NUMPY_2_1 and {"min", "max"} & set(kw):  # NumPy 2.0's names for them
        kw_np = {"a_min": kw.get("min"), "a_max": kw.get("max"), **{k: v for k, v in kw.items() if k not in ("min", "max")}}
    else:
        kw_np = kw
    want = _theirs(ns, name)(*_put(args, x), **kw_np)
    got = cr.jvp(f, (x,), (np.ones_like(x),))[0]
    for g, w in _pairs(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
    if name != "round":
        check_grads(lambda v: _sum_all(f(v)), (x,), order=2)
    batch = np.stack([x, x * 1.1])
    mapped = cr.vmap(f)(batch)
    for j, b in enumerate(batch):
        for m, o in _pairs(mapped, f(b)):
            np.testing.assert_allclose(np.asarray(m)[j], o, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(CONSTANT_CASES))
def test_constant_makers_take_numpys_keywords_from_a_traced_argument(name):
    for kw in CONSTANT_CASES[name]:
        want = getattr(np, name)(X, **kw)
        got = cr.jvp(lambda v: cnp.sum(v) + 0 * cnp.sum(getattr(cnp, name)(v, **kw)), (X,), (X,))
        assert got[0] == pytest.approx(X.sum())
        out = getattr(cnp, name)(cr.tensor(X), **kw)
        assert out.shape == want.shape and out.dtype == want.dtype and out.flags.f_contiguous == want.flags.f_contiguous
        np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("name", sorted(PLAIN_CASES))
def test_plain_makers_pass_numpys_keywords_on(name):
    for args, kw in PLAIN_CASES[name]:
        want, got = getattr(np, name)(*args, **kw), getattr(cnp, name)(*args, **kw)
        assert got.dtype == want.dtype and got.flags.f_contiguous == want.flags.f_contiguous
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("ns,name", [(ns, n) for ns, n in ALL if _is_ufunc(ns, n)])
def test_ufunc_dtype_keyword_in_every_mode(ns, name):
    args = (X,) * (2 if name in UFUNCS and _binary(name) else 1)
    args = tuple(a + 1.0 for a in args) if name == "arccosh" else args
    want = _theirs(ns, name)(*args, dtype=np.float32)
    f = _ours(ns, name)
    got = cr.jvp(lambda v: f(v, *args[1:], dtype=np.float32), (args[0],), (args[0],))[0]
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(f(*args, dtype=np.float32), want, rtol=1e-6)
    # plain values still take every ufunc keyword, as NumPy does
    out = np.empty_like(args[0])
    assert f(*args, out=out) is out


def test_numpys_own_ufuncs_on_a_tensor_take_the_same_keywords():
    t = cr.tensor(X, requires_grad=True)
    assert np.exp(t, dtype=np.float32).dtype == np.float32
    with pytest.raises(TypeError, match=r"^sin: the keyword out=\(<an array of shape \(3, 4\)>,\)"):
        np.sin(t, out=np.empty((3, 4)))
