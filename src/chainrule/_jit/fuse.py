"""Fusion: chains of elementwise primitives become one compiled loop nest (Numba).

Straight-line NumPy runs each elementwise primitive as its own pass over
memory, with a temporary array and a Python-level call per operation.
``fuse(ir)`` finds *groups* of elementwise equations of one output shape that
feed each other, writes each group as one Python function with a loop nest
over that shape (the primitives' ``scalar`` expressions, declared in their
``defprim`` blocks, on one element at a time), compiles it with Numba, and
returns a graph in which each group is one equation of an internal
primitive: its ``impl`` allocates the group's outputs and calls the kernel.
A group with several outputs returns a tuple, read by small extraction
equations.  Code generation runs the result like any other graph.

*What fuses.*  An equation whose primitive declares ``scalar``, whose dtypes
are bool, integers, float32 or float64, and whose operands are graph values
or scalar constants.  It joins the group of an operand's producer when that
group has the same output shape and is still *open*: nothing outside the
group has read a value of it yet (so the fused equation can stand where the
group's last member stood).  Operands from outside a group broadcast to its
shape by index arithmetic (a size-1 or missing axis reads index 0).  Groups
of fewer than two equations stay as they are.

*Values.*  Each operation converts its operands to the dtype NumPy computes
it in (the output's; a comparison's common operand dtype, Python scalars
weak as in NumPy 2), then rounds to the output dtype, so float32 stays
float32 and arithmetic matches NumPy bit for bit; libm's ``exp``, ``tanh``, ...
may differ from NumPy's by an ulp.

*Cache.*  Each kernel's source is written to ``cache_dir()`` (``$CHAINRULE_JIT_CACHE``,
else the user cache directory) under a name hashed from the source, and
compiled by ``numba.njit(cache=True)``, so a later process loads the machine
code from disk instead of compiling.  ``clear_cache()`` empties it.

Numba is imported the first time a graph has a group to compile, never when
``chainrule`` is imported.  Without it (or with ``CHAINRULE_JIT_NUMBA=0``)
``fuse`` returns the graph unchanged, and warns once with :class:`FusionWarning`.

>>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
>>> from chainrule._jit import fuse
>>> ir = cr.make_ir(lambda x: cnp.tanh(cnp.sin(x) * 2.0) + 1.0)(np.ones(3))
>>> print(fuse.fuse(ir))
{ lambda a:f64[3] .
    b:f64[3] = fused[sin,multiply,tanh,add] a
  in (b) }
"""
from __future__ import annotations

import importlib.util
import math
import operator
import os
import sys
import threading
import warnings

import numpy as np

from chainrule._core.primitive import PerInput, Primitive
from chainrule._interpreters.staging import IR, Eqn, Lit, Var

__all__ = ["fuse", "FusionWarning", "cache_dir", "clear_cache", "describe", "enabled", "stats"]

#: Groups smaller than this stay as separate NumPy calls (one call is already one pass).
MIN_GROUP = 2
#: The most equations one kernel fuses.  An unrolled loop chains thousands of elementwise
#: operations (a running sum over 400 steps); one kernel of them took Numba minutes to compile.
MAX_GROUP = 96

_DTYPES = frozenset(np.dtype(n) for n in ("float64", "float32", "int64", "int32", "int16", "int8",
                                          "uint8", "bool"))
_CONV = {np.dtype(n): (f"np.{n}" if n != "bool" else "bool") for n in
         ("float64", "float32", "int64", "int32", "int16", "int8", "uint8", "bool")}

#: Kernels this process compiled with Numba, and loaded from the disk cache.
stats = {"compiled": 0, "loaded": 0}


class FusionWarning(UserWarning):
    """``cr.jit`` runs its graphs as straight-line NumPy: Numba is missing or switched off."""


# -- switching it on and off -------------------------------------------------------------

_warned = False


_broken = None  # why Numba could not be used, once it failed to import


def enabled():
    """``None`` when fusion is on, else why it is off (a sentence)."""
    if _broken is not None:
        return _broken
    if os.environ.get("CHAINRULE_JIT_NUMBA", "1").strip().lower() in ("0", "false", "no", "off"):
        return "CHAINRULE_JIT_NUMBA=0 switches it off"
    if "numba" not in sys.modules and importlib.util.find_spec("numba") is None:
        return "Numba is not installed (pip install 'chainrule[jit]', or pip install numba)"
    return None


def _warn_off(why):
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(f"cr.jit: elementwise fusion is off, so jitted functions run as straight-line "
                      f"NumPy (correct, but slower on chains of elementwise operations): {why}. "
                      f"To compile fused loops: pip install 'chainrule[jit]'.", FusionWarning, stacklevel=4)


def cache_dir():
    """Where kernels are kept: ``$CHAINRULE_JIT_CACHE``, else ``<user cache dir>/chainrule/jit``."""
    d = os.environ.get("CHAINRULE_JIT_CACHE")
    if d:
        return os.path.abspath(os.path.expanduser(d))
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~\\AppData\\Local")
    elif sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Caches")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "chainrule", "jit")


def clear_cache():
    """Delete every kernel kept on disk (the sources and Numba's compiled code); the count of files."""
    import shutil
    d = cache_dir()
    n = 0
    if os.path.isdir(d):
        for root, _, files in os.walk(d):
            n += len(files)
        shutil.rmtree(d, ignore_errors=True)
    _KERNELS.clear()
    rt = sys.modules.get("chainrule._jit._numba_rt")
    if rt is not None:
        rt.forget()
    return n


# -- which equations fuse ------------------------------------------------------------------

def _lit_scalar(v):
    """``(source text, dtype or None if weak)`` of a scalar constant, or ``None`` if it cannot be inlined."""
    t = type(v)
    if t is bool:
        return repr(v), None
    if t is int:
        return (repr(v), None) if -2**63 <= v < 2**63 else None
    if t is float:
        return _float_text(v), None
    if isinstance(v, (np.generic, np.ndarray)) and np.ndim(v) == 0 and v.dtype in _DTYPES:
        x = v.item() if isinstance(v, np.generic) else v[()].item()
        text = _float_text(x) if type(x) is float else repr(x)
        return f"{_CONV[v.dtype]}({text})", v.dtype
    return None


def _float_text(x):
    if math.isfinite(x):
        return repr(x)
    return "np.nan" if x != x else ("np.inf" if x > 0 else "-np.inf")


def _loop_dtype(e):
    """The dtype NumPy computes ``e`` in: its output's, or for a bool output its operands' common dtype."""
    out = e.out.dtype
    if out != np.bool_:
        return out
    parts = []
    for a in e.ins:
        if type(a) is Var:
            parts.append(a.dtype)
        else:
            v = a.value
            parts.append(v if type(v) in (bool, int, float) else np.asarray(v).dtype)
    try:
        dt = np.result_type(*parts)
    except TypeError:
        return None
    return dt if dt in _DTYPES else None


def _expression(e):
    """``(template, loop dtype)`` for a fusable equation, else ``None``."""
    s = e.prim.scalar
    if s is None or type(e.out) is not Var or e.out.dtype not in _DTYPES:
        return None
    for a in e.ins:
        if type(a) is Var:
            if a.dtype not in _DTYPES:
                return None
        else:
            v = a.value
            if _lit_scalar(v) is None and not (type(v) is np.ndarray and v.dtype in _DTYPES):
                return None
    loop = _loop_dtype(e)
    if loop is None:
        return None
    if callable(s):
        s = s(loop, math.prod(e.out.shape))
        if s is None:
            return None
    return s, loop


class _Group:
    __slots__ = ("members", "shape", "open")

    def __init__(self, shape):
        self.members = []
        self.shape = shape
        self.open = True


def _groups(ir):
    """The groups of fusable equations (lists of equation indices, in order), at least ``MIN_GROUP`` long."""
    owner = {}  # id(var) -> the group that computes it
    exprs = {}
    groups = []
    for k, e in enumerate(ir.eqns):
        ex = _expression(e)
        feeding = []
        for a in e.ins:
            if type(a) is Var:
                g = owner.get(id(a))
                if g is not None and g not in feeding:
                    feeding.append(g)
        if ex is None:
            for g in feeding:
                g.open = False
            continue
        exprs[k] = ex
        join, size = [], 1
        for g in feeding:  # a group stops growing at MAX_GROUP equations: Numba's compile time grows
            if g.open and g.shape == e.out.shape and size + len(g.members) <= MAX_GROUP:  # faster than its size
                join.append(g)
                size += len(g.members)
        for g in feeding:
            if g not in join:
                g.open = False
        if join:
            target = join[0]
            for g in join[1:]:  # e joins two open groups: they become one
                target.members.extend(g.members)
                for m in g.members:
                    owner[id(ir.eqns[m].out)] = target
                g.members = []
        else:
            target = _Group(e.out.shape)
            groups.append(target)
        target.members.append(k)
        owner[id(e.out)] = target
    return [sorted(g.members) for g in groups if len(g.members) >= MIN_GROUP], exprs


# -- the rewrite ---------------------------------------------------------------------------

def fuse(ir: IR) -> IR:
    """``ir`` with each group of fusable elementwise equations replaced by one compiled kernel call.

    The same graph (the same object) when nothing fuses, or fusion is off.
    """
    groups, exprs = _groups(ir)
    if not groups:
        return ir
    why = enabled()
    if why is not None:
        _warn_off(why)
        return ir
    readers = {}
    for k, e in enumerate(ir.eqns):
        for a in e.ins:
            if type(a) is Var:
                readers.setdefault(id(a), set()).add(k)
    final = {id(o) for o in ir.outs if type(o) is Var}
    replace = {}  # index of a group's last member -> the equations that stand for the group
    dropped = set()
    for members in groups:
        new = _fused_eqns(ir, members, exprs, readers, final)
        if new is None:
            continue
        replace[members[-1]] = new
        dropped.update(members)
    if not replace:
        return ir
    eqns = []
    for k, e in enumerate(ir.eqns):
        if k in replace:
            eqns.extend(replace[k])
        elif k not in dropped:
            eqns.append(e)
    return ir.replace(eqns=eqns)


def _fused_eqns(ir, members, exprs, readers, final):
    """The equations computing the group ``members`` with one kernel (``None`` if nothing reads it)."""
    mset = set(members)
    shape = ir.eqns[members[0]].out.shape
    nd = len(shape)
    ext, ext_ops = {}, []  # id -> argument name; the operands (Var or array Lit) in argument order
    temps = {}             # id(var) -> (name, dtype)
    body, names = [], []
    outs = []
    for k in members:
        e = ir.eqns[k]
        template, loop = exprs[k]
        ops, raws = [], []
        for a in e.ins:
            if type(a) is Var and id(a) in temps:
                text, dt = temps[id(a)]
            elif type(a) is Lit and _lit_scalar(a.value) is not None:
                text, dt = _lit_scalar(a.value)
            else:
                key = id(a)
                if key not in ext:
                    ext[key] = f"x{len(ext_ops)}"
                    ext_ops.append(a)
                text = ext[key]
                arr_shape = a.shape if type(a) is Var else a.value.shape
                if arr_shape:
                    text = f"{text}[{_index(arr_shape, shape)}]"
                dt = a.dtype if type(a) is Var else a.value.dtype
            raws.append(text)
            ops.append(text if dt == loop else f"{_CONV[loop]}({text})")
        expr = template.format(*ops, T=_CONV[loop], **{f"r{i}": r for i, r in enumerate(raws)}, **e.params)
        name = f"t{len(temps)}"
        body.append(f"{name} = {_CONV[e.out.dtype]}({expr})  # {e.prim.name}")
        temps[id(e.out)] = (name, e.out.dtype)
        names.append(e.prim.name)
        if id(e.out) in final or any(r not in mset for r in readers.get(id(e.out), ())):
            outs.append(e.out)
    if not outs:
        return None
    args = [f"x{j}" for j in range(len(ext_ops))]
    lines = ["import numpy as np", "from numba import njit", "",
             "", "@njit(cache=True, error_model='numpy', nogil=True)"]
    if nd == 0:
        lines.append(f"def kernel({', '.join(args)}):")
        lines += [f"    {b}" for b in body]
        rets = ", ".join(temps[id(o)][0] for o in outs)
        lines.append(f"    return ({rets},)" if len(outs) > 1 else f"    return {rets}")
    else:
        onames = [f"o{j}" for j in range(len(outs))]
        lines.append(f"def kernel({', '.join(args + onames)}):")
        for d in range(nd):
            lines.append("    " * (d + 1) + f"for i{d} in range(o0.shape[{d}]):")
        pad = "    " * (nd + 1)
        lines += [pad + b for b in body]
        idx = ", ".join(f"i{d}" for d in range(nd))
        lines += [f"{pad}{on}[{idx}] = {temps[id(o)][0]}" for on, o in zip(onames, outs)]
    source = "\n".join(lines) + "\n"
    in_types = [(a.dtype, len(a.shape)) if type(a) is Var else (a.value.dtype, a.value.ndim) for a in ext_ops]
    out_types = [(o.dtype, nd) for o in outs]
    arrays = [j for j, (_, n) in enumerate(in_types) if n > 0]
    numpy = _numpy_group([ir.eqns[k] for k in members], ext_ops, outs, nd == 0)
    run = _runner((source, in_types, out_types, nd == 0), numpy, arrays, shape, [o.dtype for o in outs])
    label = ",".join(dict.fromkeys(names))
    prim = _Fused(f"fused[{label}]", run, PerInput(lambda i: None), None, None, False, False)
    prim.source = source
    if len(outs) == 1:
        return [Eqn(prim, tuple(ext_ops), {}, outs[0])]
    tup = Var((), object)
    eqns = [Eqn(prim, tuple(ext_ops), {}, tup)]
    for j, o in enumerate(outs):
        eqns.append(Eqn(_pick(j), (tup,), {}, o))
    return eqns


class _Fused(Primitive):
    """The internal primitive of one fused group (not registered: it has no derivative rules; the
    graphs that transforms read are the unfused ones).  ``source`` is its kernel's."""

    __slots__ = ("source",)


def _index(arr_shape, shape):
    """The index of an operand of shape ``arr_shape`` broadcast to ``shape``, in the loop variables."""
    nd, r = len(shape), len(arr_shape)
    return ", ".join("0" if n == 1 and shape[nd - r + k] != 1 else f"i{nd - r + k}"
                     for k, n in enumerate(arr_shape))


_PICKS = []


def _pick(j):
    """The primitive reading output ``j`` of a fused group's tuple."""
    while len(_PICKS) <= j:
        i = len(_PICKS)
        _PICKS.append(Primitive(f"fused_out[{i}]", operator.itemgetter(i), PerInput(lambda i: None),
                                None, None, False, False))
    return _PICKS[j]


def _numpy_group(eqns, ext_ops, outs, scalar_out):
    """The group run by its primitives' NumPy impls, with the kernel's calling convention (the
    stand-in when Numba cannot compile the kernel)."""
    def kernel(*args):
        xs = args if scalar_out else args[:len(ext_ops)]
        env = {id(a): x for a, x in zip(ext_ops, xs)}
        for e in eqns:
            env[id(e.out)] = e.prim.impl(*[env[id(a)] if id(a) in env else a.value for a in e.ins], **e.params)
        if scalar_out:
            vals = [env[id(o)] for o in outs]
            return vals[0] if len(vals) == 1 else tuple(vals)
        for o, buf in zip(outs, args[len(ext_ops):]):
            buf[...] = env[id(o)]
    return kernel


def _runner(spec, numpy, arrays, shape, dtypes):
    """The impl of a fused group: allocate the outputs, call the compiled kernel.

    The kernel is compiled (or loaded from the disk cache) on the first call,
    so graphs that never run (a vjp graph kept whole beside its split halves)
    cost nothing.  The one for C-contiguous operands runs when they are (LLVM
    vectorises its loops); otherwise one for any strides, compiled when first
    needed.  A kernel Numba cannot compile is replaced by ``numpy``.
    """
    ns = {"empty": np.empty, "shape": shape}

    def first(layout):
        def boot(*args):
            k = _kernel(*spec, layout)
            ns[layout] = k = numpy if k is None else k
            return k(*args)
        return boot
    ns["C"], ns["A"] = first("C"), first("A")
    n_in = len(spec[1])
    xs = ", ".join(f"x{j}" for j in range(n_in))
    if shape == ():  # all operands are scalars, and so are the results (as NumPy's)
        ns.update({f"d{j}": np.dtype(d).type for j, d in enumerate(dtypes)})
        if len(dtypes) == 1:
            src = f"def run({xs}):\n    return d0(C({xs}))\n"
        else:
            src = (f"def run({xs}):\n    r = C({xs})\n    return ("
                   + "".join(f"d{j}(r[{j}]), " for j in range(len(dtypes))) + ")\n")
    else:
        ns.update({f"d{j}": np.dtype(d) for j, d in enumerate(dtypes)})
        os_ = [f"o{j}" for j in range(len(dtypes))]
        args = ", ".join([f"x{j}" for j in range(n_in)] + os_)
        test = " and ".join(f"x{j}.flags.c_contiguous" for j in arrays) or "True"
        src = (f"def run({xs}):\n" + "".join(f"    {o} = empty(shape, d{j})\n" for j, o in enumerate(os_))
               + f"    if {test}:\n        C({args})\n    else:\n        A({args})\n"
               + f"    return {os_[0] if len(os_) == 1 else '(' + ', '.join(os_) + ',)'}\n")
    exec(compile(src, "<fused run>", "exec"), ns)
    return ns["run"]


_KERNELS = {}  # (source, operand types, layout) -> the compiled entry point
_lock = threading.Lock()


def _kernel(source, in_types, out_types, scalar_out, layout):
    """The compiled kernel of ``source`` for these operand types and input layout (``None``, with a
    warning, if Numba fails)."""
    global _broken
    key = (source, tuple(in_types), layout)
    k = _KERNELS.get(key, _KERNELS)
    if k is not _KERNELS:
        return k
    with _lock:
        k = _KERNELS.get(key, _KERNELS)
        if k is _KERNELS:
            k = hit = None
            try:
                from chainrule._jit import _numba_rt
            except Exception as exc:  # Numba is there but does not import: fusion off from now on
                _broken = f"Numba does not import ({type(exc).__name__}: {str(exc)[:200]})"
                _warn_off(_broken)
            else:
                try:
                    k, hit = _numba_rt.compile_kernel(source, cache_dir(), in_types, out_types, scalar_out,
                                                      layout)
                except Exception as exc:  # e.g. a scalar expression Numba cannot type: NumPy runs the group
                    warnings.warn(f"cr.jit: could not compile a fused kernel ({type(exc).__name__}: "
                                  f"{str(exc)[:300]}); running those operations with NumPy instead. "
                                  f"The kernel:\n{_head(source)}", FusionWarning, stacklevel=2)
            if hit is not None:
                stats["loaded" if hit else "compiled"] += 1
            _KERNELS[key] = k
    return k


def _head(source, n=16):
    lines = source.splitlines()
    return "\n".join(lines[:n] + ([f"... ({len(lines) - n} more lines)"] if len(lines) > n else []))


def describe(ir):
    """The fused graph of ``ir`` and the source of every kernel in it (to see what ``cr.jit`` runs).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> from chainrule._jit import fuse
    >>> g = cr.jit(lambda x: cnp.sin(x) * 2.0 + 1.0).lower(np.ones(3))
    >>> print(fuse.describe(g.ir).splitlines()[1])
        b:f64[3] = fused[sin,multiply,add] a
    """
    fused = fuse(ir)
    parts = [str(fused)]
    for e in fused.eqns:
        src = getattr(e.prim, "source", None)
        if src is not None:
            parts.append(f"# {e.prim.name}\n{src}")
    return "\n\n".join(parts)
