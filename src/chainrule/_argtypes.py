"""argparse types the command-line tools share: bad values exit 2 with one line, before anything runs."""
from __future__ import annotations

import argparse
import math

__all__ = ["positive_int", "nonnegative_int", "positive_float"]


def _int(text, low, what):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
    return value


def positive_int(text):
    """An integer >= 1."""
    return _int(text, 1, "a positive integer")


def nonnegative_int(text):
    """An integer >= 0."""
    return _int(text, 0, "an integer >= 0")


def positive_float(text):
    """A finite number > 0 (a learning rate, a time budget)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value
