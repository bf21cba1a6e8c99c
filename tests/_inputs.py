"""Seeded test inputs shared by the ops tables (tests/test_ops_*.py)."""
import numpy as np


def normal(shape, seed=0):
    """Standard normal entries."""
    return np.random.default_rng(seed).standard_normal(shape)


def distinct(shape, seed=0):
    """Entries that are pairwise distinct and well apart (no ties for max, sort, argmax)."""
    n = int(np.prod(shape, dtype=int))
    return (0.25 * np.random.default_rng(seed).permutation(n) - 0.3).reshape(shape)


def quiet():
    """NumPy's overflow and division warnings silenced (a fixture body, for edge-point tests)."""
    import warnings
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
