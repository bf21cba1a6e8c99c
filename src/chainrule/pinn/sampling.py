"""Collocation points: boxes, their boundaries and slices; uniform, Latin hypercube, Sobol.

A :class:`Box` is ``[lo_0, hi_0] x ... x [lo_{d-1}, hi_{d-1}]``.  Points are rows of an
``(n, d)`` float64 array, drawn from the unit cube by one of three methods and then
scaled to the box:

* ``"uniform"``: independent uniform draws (DeepXDE's ``"pseudo"``);
* ``"lhs"``: a Latin hypercube (``scipy.stats.qmc.LatinHypercube``): for every
  coordinate, each of the ``n`` equal strata of ``[lo, hi]`` holds exactly one point;
* ``"sobol"``: a scrambled Sobol sequence (``scipy.stats.qmc.Sobol``); ``n`` should be
  a power of two for its balance properties (any ``n`` is accepted, as SciPy warns).

SciPy is needed for ``"lhs"`` and ``"sobol"`` only, and imported when first used.
``rng`` is a ``numpy.random.Generator`` or an int seed, so every draw is reproducible.

>>> import chainrule as cr
>>> box = cr.pinn.Box([0.0, -1.0], [1.0, 1.0])          # (t, x) in [0, 1] x [-1, 1]
>>> box.sample(4, "uniform", rng=0).shape
(4, 2)
>>> pts = box.sample_slice(3, axis=0, rng=0)             # the initial slice t = 0
>>> pts[:, 0]
array([0., 0., 0.])
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["Box", "METHODS", "unit_cube", "Resampler"]

METHODS = ("uniform", "lhs", "sobol")


def _rng(rng):
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(f"pinn sampling: rng must be a numpy.random.Generator or an int seed, "
                    f"got {type(rng).__name__}")


def _qmc():
    try:
        from scipy.stats import qmc
    except ImportError:
        raise ImportError("cr.pinn: Latin hypercube and Sobol sampling use scipy.stats.qmc: "
                          "pip install 'chainrule[special]' (or pip install scipy), or use "
                          "method='uniform'") from None
    return qmc


def unit_cube(n: int, d: int, method: str = "uniform", rng: Any = None) -> np.ndarray[Any, Any]:
    """``n`` points in ``[0, 1)^d`` as an ``(n, d)`` array, drawn by ``method``.

    >>> import numpy as np
    >>> u = unit_cube(5, 2, "lhs", rng=0)
    >>> sorted(np.floor(u[:, 0] * 5).astype(int).tolist())   # one point per stratum
    [0, 1, 2, 3, 4]
    """
    n, d = int(n), int(d)
    if n < 0 or d < 1:
        raise ValueError(f"pinn sampling: need n >= 0 points in d >= 1 dimensions, got n={n}, d={d}")
    if method not in METHODS:
        raise ValueError(f"pinn sampling: method must be one of {METHODS}, got {method!r}")
    gen = _rng(rng)
    if n == 0:
        return np.zeros((0, d))
    if method == "uniform":
        return gen.random((n, d))
    qmc = _qmc()
    if method == "lhs":
        return qmc.LatinHypercube(d=d, seed=gen).random(n)
    import warnings
    with warnings.catch_warnings():  # "balance properties need n = 2**m": documented above
        warnings.simplefilter("ignore", UserWarning)
        return qmc.Sobol(d=d, scramble=True, seed=gen).random(n)


class Box:
    """The box ``[lo, hi]`` in ``d`` dimensions (``lo`` and ``hi`` of length ``d``).

    ``names`` label the coordinates (``("t", "x")``); they only make messages clearer.

    >>> box = Box([0.0, -1.0], [1.0, 1.0], names=("t", "x"))
    >>> box
    Box(t in [0.0, 1.0], x in [-1.0, 1.0])
    >>> box.normalize(np.array([[0.5, 0.0], [1.0, 1.0]]))
    array([[0., 0.],
           [1., 1.]])
    """

    def __init__(self, lo: Any, hi: Any, names: Sequence[str] | None = None) -> None:
        lo = np.atleast_1d(np.asarray(lo, dtype=np.float64))
        hi = np.atleast_1d(np.asarray(hi, dtype=np.float64))
        if lo.ndim != 1 or lo.shape != hi.shape:
            raise ValueError(f"Box: lo and hi must be 1-D of one length, got shapes {lo.shape} and {hi.shape}")
        if not np.all(np.isfinite(lo) & np.isfinite(hi)) or np.any(hi <= lo):
            raise ValueError(f"Box: need finite lo < hi in every coordinate, got lo={lo.tolist()}, "
                             f"hi={hi.tolist()}")
        self.lo, self.hi = lo, hi
        self.names = tuple(names) if names is not None else tuple(f"x{i}" for i in range(lo.size))
        if len(self.names) != lo.size:
            raise ValueError(f"Box: {len(self.names)} names for {lo.size} coordinates")

    @property
    def dim(self) -> int:
        return self.lo.size

    @property
    def volume(self) -> float:
        return float(np.prod(self.hi - self.lo))

    def __repr__(self):
        return "Box(" + ", ".join(f"{n} in [{a}, {b}]" for n, a, b in zip(self.names, self.lo, self.hi)) + ")"

    def _axis(self, axis):
        if isinstance(axis, str):
            if axis not in self.names:
                raise ValueError(f"Box: no coordinate named {axis!r}; the names are {self.names}")
            return self.names.index(axis)
        axis = int(axis)
        if not -self.dim <= axis < self.dim:
            raise ValueError(f"Box: axis {axis} out of range for a box of dimension {self.dim}")
        return axis % self.dim

    def contains(self, x: Any, atol: float = 0.0) -> Any:
        """A boolean per row of ``x``: inside the closed box (to ``atol``)."""
        x = np.asarray(x)
        return np.all((x >= self.lo - atol) & (x <= self.hi + atol), axis=-1)

    def sample(self, n: int, method: str = "uniform", rng: Any = None) -> np.ndarray[Any, Any]:
        """``n`` points inside the box, ``(n, d)``."""
        return self.lo + (self.hi - self.lo) * unit_cube(n, self.dim, method, rng)

    def sample_slice(self, n: int, axis: int | str = 0, value: float | None = None, method: str = "uniform",
                     rng: Any = None) -> np.ndarray[Any, Any]:
        """``n`` points on the slice where coordinate ``axis`` equals ``value`` (default: its ``lo``,
        the initial slice of a time axis), spread over the other coordinates by ``method``."""
        k = self._axis(axis)
        value = self.lo[k] if value is None else float(value)
        if self.dim == 1:
            return np.full((int(n), 1), value)
        rest = [i for i in range(self.dim) if i != k]
        out = np.empty((int(n), self.dim))
        out[:, rest] = self.lo[rest] + (self.hi[rest] - self.lo[rest]) * unit_cube(n, self.dim - 1, method, rng)
        out[:, k] = value
        return out

    def sample_boundary(self, n: int, method: str = "uniform", rng: Any = None,
                        axes: Sequence[int | str] | None = None) -> np.ndarray[Any, Any]:
        """``n`` points on the faces normal to ``axes`` (default: all), each face drawing a share
        of ``n`` proportional to its area (in 1-D, the two end points alternately).

        For a space-time box ``(t, x)`` the spatial boundary ``x = +-1`` is ``axes=("x",)``.

        >>> box = Box([0.0, -1.0], [1.0, 1.0], names=("t", "x"))
        >>> pts = box.sample_boundary(6, axes=("x",), rng=0)
        >>> sorted(set(np.abs(pts[:, 1]).tolist()))
        [1.0]
        """
        gen = _rng(rng)
        axes = range(self.dim) if axes is None else [self._axis(a) for a in axes]
        faces = [(k, side) for k in axes for side in (0, 1)]
        if not faces:
            raise ValueError("Box.sample_boundary: no axes given")
        width = self.hi - self.lo
        area = np.array([np.prod(np.delete(width, k)) for k, _ in faces])
        # the counts: area-proportional, rounded by largest remainder so they sum to n
        share = area / area.sum() * int(n)
        counts = np.floor(share).astype(int)
        for i in np.argsort(counts - share)[: int(n) - counts.sum()]:
            counts[i] += 1
        parts = [self.sample_slice(c, k, self.hi[k] if side else self.lo[k], method, gen)
                 for (k, side), c in zip(faces, counts)]
        out = np.concatenate(parts) if parts else np.zeros((0, self.dim))
        return out[gen.permutation(len(out))]

    def normalize(self, x: Any) -> Any:
        """``x`` mapped affinely from the box onto ``[-1, 1]^d``; works on arrays and tracers."""
        return (x - self.lo) * (2.0 / (self.hi - self.lo)) - 1.0


class Resampler:
    """Fresh collocation points every ``period`` steps (DeepXDE's ``PDEPointResampler``).

    ``draw(rng) -> points``; ``resampler(step)`` returns the current points, drawing new
    ones at steps ``0, period, 2 period, ...`` (``period=None``: never after the first).

    >>> box = Box([0.0], [1.0])
    >>> r = Resampler(lambda rng: box.sample(3, rng=rng), period=2, rng=0)
    >>> a, b, c = r(0), r(1), r(2)
    >>> a is b, bool(np.array_equal(a, c))
    (True, False)
    """

    def __init__(self, draw: Callable[..., Any], period: int | None = None, rng: Any = None) -> None:
        if period is not None and int(period) < 1:
            raise ValueError(f"Resampler: period must be >= 1 or None, got {period}")
        self.draw, self.period, self.rng = draw, period, _rng(rng)
        self.points, self.count = None, 0

    def __call__(self, step: int) -> Any:
        if self.points is None or (self.period is not None and step % self.period == 0 and step > 0):
            self.points = self.draw(self.rng)
            self.count += 1
        return self.points
