"""Indexing with *traced* integer indices: gather, scatter-add and set on flat positions.

``getitem``, ``scatter_add`` and ``index_set`` carry their index as a static
param, which is right for plain indices.  An index that is itself a traced
value -- under ``vmap``, a batched integer array such as ``argsort``'s result
or a mapped argument -- must be an *operand*, so that the interpreter of its
level sees it.  Such an index is turned into one integer array of flat
positions into ``x.ravel()``, shaped like the result (NumPy's rules for
slices, integers, arrays and where the broadcast index axes go), and the
three primitives below act on the flattened array:

* ``gather(x, i)`` -- ``x[i]`` for a 1-D ``x``;
* ``scatter_rows(g, i, n)`` -- zeros of length ``n`` with ``g`` added at ``i``
  (repeated positions accumulate), the transpose of ``gather``;
* ``set_rows(x, v, i)`` -- a copy of ``x`` with ``x[i] = v``.

Their batching rules fold the batch into the flat axis (position
``b * n + i`` of the ``(B * n,)`` array), as JAX batches ``gather`` by
prepending a batch ``arange`` to the indices; so the index may be batched,
the array, or both.  All three are linear in the array operands and have no
derivative in the index.
"""
from __future__ import annotations

import numpy as np

from chainrule._core.primitive import TRACER_TYPES, bind, defprim
from chainrule._ops._wrap import EMPTY, batch_size, dtype_of, peel, shape_of


def _gather_impl(x, i):
    return x[i]


def _scatter_rows_impl(g, i, n):
    dtype = np.result_type(g)
    if dtype == np.float64 and np.shape(g) == np.shape(i):
        # repeated positions add up: bincount gives np.add.at's sums, in its order, several times faster
        flat = np.ravel(i)
        if flat.size and flat.min() >= 0 and flat.max() < n:  # (bincount of nothing is an integer array)
            return np.bincount(flat, np.ravel(g), minlength=n)
    out = np.zeros((n,), dtype=dtype)
    np.add.at(out, i, g)  # other dtypes, and positions out of range (np.add.at raises NumPy's IndexError)
    return out


def _set_rows_impl(x, v, i):
    out = np.array(x, copy=True)
    out[i] = v
    return out


def _offsets(vals, batched, n):
    """``b * n + i``: the flat positions of each example's ``i`` in the folded ``(B * n,)`` array."""
    i, bi = vals[-1], batched[-1]
    nb = batch_size(vals, batched)
    per = len(shape_of(i)) - bi  # the index's rank in one example
    base = (np.arange(nb, dtype=np.intp) * n).reshape((nb,) + (1,) * per)
    return _add(base, i)


def _batch_gather(vals, batched, params):
    x, i = vals
    if not batched[0]:  # only the index is batched: x[i] is already batched
        return bind(gather_p, (x, i), EMPTY)
    return bind(gather_p, (_reshape(x, (-1,)), _offsets(vals, batched, x.shape[1])), EMPTY)


def _batch_scatter_rows(vals, batched, params):
    from chainrule._ops._wrap import batch_all
    g = batch_all(vals, batched)[0]
    n, nb = params["n"], batch_size(vals, batched)
    out = bind(scatter_rows_p, (g, _offsets(vals, batched, n)), {"n": nb * n})
    return _reshape(out, (nb, n))


def _batch_set_rows(vals, batched, params):
    from chainrule._ops._wrap import batch_all
    x, v = batch_all(vals, batched)[:2]
    nb, n = x.shape[0], x.shape[1]
    out = bind(set_rows_p, (_reshape(x, (-1,)), v, _offsets(vals, batched, n)), EMPTY)
    return _reshape(out, (nb, n))


gather_p = defprim(
    "gather", _gather_impl,
    [lambda ans, x, i: lambda g: scatter_rows(g, i, x.shape[0]), None],
    jvp="linear", formulas=[("g added at the positions i", r"\bar g \text{ at } i"), None],
    batch=_batch_gather)

scatter_rows_p = defprim(
    "scatter_rows", _scatter_rows_impl,
    [lambda ans, g, i, n: lambda h: gather(h, i), None],
    jvp="linear", formulas=[("h[i]", r"\bar h[i]"), None],
    batch=_batch_scatter_rows)

def _set_rows_dv(ans, x, v, i):
    # Only the last write to a repeated position survives, so only it gets the cotangent.
    from chainrule._ops.elementwise import where
    from chainrule._ops.shape import kept_writes
    n = shape_of(x)[0]
    if type(i) not in TRACER_TYPES and np.unique(i).size == np.size(i):
        return lambda g: gather(g, i)
    # (for a batched index the surviving writes differ per example, and ``keep`` is batched)
    ids = np.arange(np.prod(shape_of(i), dtype=np.int64), dtype=np.float64).reshape(shape_of(i))
    keep = kept_writes(ids, lambda w: set_rows(np.full((n,), -1.0), w, i), lambda o: gather(o, i))
    return lambda g: where(keep, gather(g, i), 0.0)


set_rows_p = defprim(
    "set_rows", _set_rows_impl,
    [lambda ans, x, v, i: lambda g: set_rows(g, np.zeros(shape_of(v), dtype_of(g)), i),
     _set_rows_dv, None],
    jvp="linear", formulas=[("1 outside i, 0 at i", r"[\notin i]"), ("g[i]", r"\bar g[i]"), None],
    batch=_batch_set_rows)


def _traced(*xs):
    return any(type(x) in TRACER_TYPES for x in xs)


def gather(x, i):
    return bind(gather_p, (x, i), EMPTY) if _traced(x, i) else _gather_impl(x, i)


def scatter_rows(g, i, n):
    return bind(scatter_rows_p, (g, i), {"n": n}) if _traced(g, i) else _scatter_rows_impl(g, i, n)


def set_rows(x, v, i):
    return bind(set_rows_p, (x, v, i), EMPTY) if _traced(x, v, i) else _set_rows_impl(x, v, i)


# -- an index with traced parts as flat positions ------------------------------------------------

def flat_positions(op, shape, idx):
    """Positions into ``x.ravel()`` of the elements ``x[idx]`` picks, shaped like ``x[idx]``.

    ``idx`` may mix slices, integers, plain and traced integer arrays and an
    ellipsis, with NumPy's meaning: the index arrays broadcast together, and
    their axes replace the indexed axes where they stand if those are
    adjacent, or go first otherwise.
    """
    items = _expand(op, shape, idx)
    adv = [k for k, i in enumerate(items) if not isinstance(i, slice)]
    bshape = np.broadcast_shapes(*[shape_of(items[k]) for k in adv])
    sliced = [k for k in range(len(shape)) if k not in adv]
    before = [k for k in sliced if k < adv[0]] if adv[-1] - adv[0] == len(adv) - 1 else []
    rank = len(sliced) + len(bshape)
    at = len(before)  # where the broadcast index axes go in the result
    order = before + [k for k in sliced if k not in before]  # the sliced axes, in result order
    pos = {k: (j if j < at else j + len(bshape)) for j, k in enumerate(order)}
    flat, stride = None, 1
    for k in reversed(range(len(shape))):
        i = items[k]
        if isinstance(i, slice):
            r = np.arange(*i.indices(shape[k]), dtype=np.intp)
            term = r.reshape((1,) * pos[k] + (-1,) + (1,) * (rank - pos[k] - 1))
        else:
            i = _in_bounds(op, i, shape[k], k)
            s = shape_of(i)
            lead = (1,) * (at + len(bshape) - len(s))
            term = _reshape(i, lead + tuple(s) + (1,) * (rank - at - len(bshape)))
        term = _multiply(term, stride) if stride != 1 else term
        flat = term if flat is None else _add(flat, term)
        stride *= shape[k]
    return flat


def _expand(op, shape, idx):
    items = list(idx) if isinstance(idx, tuple) else [idx]
    out = []
    for i in items:
        if i is None:
            raise NotImplementedError(f"{op}: a new axis (None) together with a traced index is not "
                                      f"supported; add the axis with cnp.expand_dims after indexing")
        if type(i) not in TRACER_TYPES and i is not Ellipsis and not isinstance(i, slice) \
                and np.asarray(i).dtype == np.bool_:
            out.extend(np.nonzero(i))  # a plain mask: its integer positions
            continue
        if type(i) in TRACER_TYPES and not np.issubdtype(dtype_of(i), np.integer):
            if dtype_of(i) == np.bool_:
                from chainrule._interpreters.staging import user_line
                raise IndexError(f"{op}: a boolean mask of shape {tuple(shape_of(i))} computed from traced values"
                                 f"{user_line()}: the result's shape would depend on the values (under "
                                 f"cr.jit the graph is traced once for all values; under cr.vmap each "
                                 f"example would get its own shape) -- keep the shape and select with "
                                 f"cnp.where(mask, x, 0.0), or multiply by the mask")
            raise IndexError(f"{op}: a traced index must be an integer array, got dtype {dtype_of(i)}")
        out.append(i)
    ells = [k for k, i in enumerate(out) if i is Ellipsis]  # by identity: == on a tracer is traced
    if len(ells) > 1:
        raise IndexError(f"{op}: an index can only have a single ellipsis ('...')")
    if ells:
        out[ells[0]:ells[0] + 1] = [slice(None)] * (len(shape) - len(out) + 1)
    if len(out) > len(shape):
        raise IndexError(f"{op}: too many indices for an array of shape {tuple(shape)}: {len(out)} were given")
    return out + [slice(None)] * (len(shape) - len(out))


def _in_bounds(op, i, n, axis):
    """``i`` checked against ``n`` (for every example of a batch), negative positions wrapped."""
    v = peel(i)
    if v is None:  # staged (cr.jit): NumPy checks the bounds when the graph runs; wrap negatives
        from chainrule._ops.elementwise import less, where
        return where(less(i, 0), _add(i, n), i)
    v = np.asarray(v)
    if v.size and (v.max() >= n or v.min() < -n):
        bad = v.max() if v.max() >= n else v.min()
        raise IndexError(f"{op}: index {bad} is out of bounds for axis {axis} with size {n}")
    if not (v < 0).any():
        return i
    if type(i) not in TRACER_TYPES:
        return np.where(v < 0, v + n, v)
    from chainrule._ops.elementwise import less, where
    return where(less(i, 0), _add(i, n), i)


def _add(a, b):
    from chainrule._ops.elementwise import add
    return add(a, b)


def _multiply(a, b):
    from chainrule._ops.elementwise import multiply
    return multiply(a, b)


def _reshape(x, shape):
    from chainrule._ops.shape import reshape
    return reshape(x, shape)


# -- the indexing operations, for an index with traced parts -------------------------------------

def getitem_traced(x, idx):
    """``x[idx]`` where ``idx`` holds a traced integer array."""
    flat = flat_positions("getitem", shape_of(x), idx)
    return gather(_reshape(x, (-1,)), flat)


def scatter_add_traced(g, idx, shape):
    """Zeros of ``shape`` with ``g`` added at ``[idx]`` (traced); repeated positions accumulate."""
    from chainrule._ops.shape import broadcast_to
    flat = flat_positions("at[...].add", shape, idx)
    g = broadcast_to(g, shape_of(flat)) if tuple(shape_of(g)) != tuple(shape_of(flat)) else g
    return _reshape(scatter_rows(g, flat, int(np.prod(shape, dtype=np.int64))), shape)


def index_set_traced(x, v, idx):
    """A copy of ``x`` with ``x[idx] = v`` where ``idx`` holds a traced integer array."""
    from chainrule._ops.shape import broadcast_to
    shape = shape_of(x)
    flat = flat_positions("at[...].set", shape, idx)
    v = broadcast_to(v, shape_of(flat)) if tuple(shape_of(v)) != tuple(shape_of(flat)) else v
    return _reshape(set_rows(_reshape(x, (-1,)), v, flat), shape)


def indexed_shape(shape, idx):
    """The shape of ``x[idx]`` for ``x`` of ``shape``."""
    from chainrule._ops.shape import _traced_index
    if _traced_index(idx):
        return tuple(shape_of(flat_positions("at", shape, idx)))
    return np.empty(shape, dtype=np.bool_)[idx].shape
