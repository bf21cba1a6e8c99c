"""Write the type stubs of ``chainrule.numpy`` (and ``.linalg``, ``.special``) from their signatures.

``chainrule.numpy`` builds its names at run time (``from chainrule._ops import *``), which a
type checker cannot follow, so ``src/chainrule/numpy/*.pyi`` spell them out: one declaration
per public name, its parameters exactly as ``inspect.signature`` gives them (names, kinds,
which have defaults), annotated by parameter name below -- arrays in (``ArrayLike``), arrays
out (``Array``).  A function given a traced value (``cr.Tensor``) returns one of the same
class, so the tape type-checks: ``cnp.tanh(x).sum().backward()``.

    python tools/gen_numpy_stubs.py          # rewrite the stubs
    python tools/gen_numpy_stubs.py --check  # exit 1 if they are out of date (tests/test_typing.py)

A parameter name missing from ``PARAMS`` stops the generator: decide its type here.
"""
from __future__ import annotations

import inspect
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "chainrule" / "numpy"

_ARRAY = "ArrayLike"
#: The annotation of each parameter name (``| None`` is added where the default is None).
PARAMS = {
    **dict.fromkeys("x y a b m v arr array ary A condition object fill_value indices start stop step "
                    "reps repeats shift pad_width indices_or_sections".split(), _ARRAY),
    **dict.fromkeys("a_min a_max min max".split(), "ArrayLike | None"),
    **dict.fromkeys("arrays tup".split(), "Sequence[ArrayLike]"),
    "operands": _ARRAY,
    "axis": "int | Sequence[int] | None",
    **dict.fromkeys("axis1 axis2 offset k decimals ddof N M n num ndmin ndmax".split(), "int"),
    **dict.fromkeys("source destination".split(), "int | Sequence[int]"),
    "shape": "Shape",
    "axes": "Any",  # transpose: a permutation; tensordot: an int or two sequences
    "dtype": "DTypeLike",
    **dict.fromkeys("keepdims endpoint retstep subok upper return_sign".split(), "bool"),
    **dict.fromkeys("copy stable".split(), "bool | None"),
    **dict.fromkeys("order kind casting mode UPLO subscripts".split(), "str"),
    "out": "np.ndarray[Any, Any] | None",  # NumPy's, for plain arrays; refused for traced values
    # NumPy's keywords that chainrule accepts at their defaults only (or passes to NumPy):
    **dict.fromkeys("ord optimize where initial mean correction device like kwargs".split(), "Any"),
    **dict.fromkeys("prepend append".split(), "ArrayLike"),  # diff: NumPy's "not given" default too
    "xi": _ARRAY,  # meshgrid(*xi)
    **dict.fromkeys("overwrite_input sparse full_matrices compute_uv hermitian descending".split(), "bool"),
    "indexing": "str",
    **dict.fromkeys("rcond rtol".split(), "Any"),  # pinv/lstsq: a float, NumPy's "not given" or None
}

#: Results other than one array.
RETURNS = {"split": "list[Array]", "slogdet": "tuple[Array, Array]", "eigh": "tuple[Array, Array]",
           "linspace": "Any",  # linspace: (samples, step) with retstep=True
           "svd": "Any",  # (U, S, Vh), or S alone with compute_uv=False
           "qr": "Any",  # (Q, R), or R alone with mode="r"
           "lstsq": "tuple[Array, Array, Any, Array]", "meshgrid": "tuple[Array, ...]"}

#: Parameters whose traced value (a ``cr.Tensor``) makes the result one of its class.
_TRACED = set("x y a b m v arr array ary A".split())
#: Functions whose result is never traced, or has no derivative to carry (made from shapes, indices).
_PLAIN = {"array", "asarray", "zeros", "ones", "zeros_like", "ones_like", "full", "full_like", "eye",
          "identity", "arange", "linspace", "argmax", "argmin", "argsort"}


def _annotation(fn, p):
    try:
        ann = PARAMS[p.name]
    except KeyError:
        raise SystemExit(f"gen_numpy_stubs: {fn}: parameter {p.name!r} has no type in PARAMS; add one") from None
    if p.default is None and "None" not in ann and ann not in ("Any", "DTypeLike"):
        ann += " | None"
    return ann


def _params(name, sig, override=None):
    parts, saw_kwonly_marker = [], False
    ps = list(sig.parameters.values())
    for i, p in enumerate(ps):
        ann = (override or {}).get(p.name) or _annotation(name, p)
        if p.kind is p.VAR_POSITIONAL:
            parts.append(f"*{p.name}: {ann}")
            saw_kwonly_marker = True
        elif p.kind is p.VAR_KEYWORD:
            parts.append(f"**{p.name}: {ann}")
        else:
            if p.kind is p.KEYWORD_ONLY and not saw_kwonly_marker:
                parts.append("*")
                saw_kwonly_marker = True
            parts.append(f"{p.name}: {ann}" + (" = ..." if p.default is not p.empty else ""))
        if p.kind is p.POSITIONAL_ONLY and (i + 1 == len(ps) or ps[i + 1].kind is not p.POSITIONAL_ONLY):
            parts.append("/")
    return ", ".join(parts)


def _function(name, fn):
    sig = inspect.signature(fn)
    ret = RETURNS.get(name, "Array")
    head = [p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)][:2]
    traced = [] if name in _PLAIN or ret != "Array" else [p.name for p in head if p.name in _TRACED]
    if not traced:
        return [f"def {name}({_params(name, sig)}) -> {ret}: ..."]
    lines = []
    for t in traced:
        lines += ["@overload", f"def {name}({_params(name, sig, {t: '_T'})}) -> _T: ..."]
    return lines + ["@overload", f"def {name}({_params(name, sig)}) -> {ret}: ..."]


def _at(cls):
    """``cnp.at(x)[idx].set(v)`` / ``.add(v)``: a class whose item is the updater."""
    updater = type(cls(0.0)[0])
    methods = sorted(m for m in vars(updater) if not m.startswith("_"))
    return ["class at:",
            "    def __init__(self, x: ArrayLike) -> None: ...",
            "    def __getitem__(self, idx: Any) -> _At: ...",
            "",
            "class _At:",
            *[f"    def {m}(self, v: ArrayLike) -> Array: ..." for m in methods]]


_HEADER = '''# Generated by tools/gen_numpy_stubs.py from the signatures of {module}: do not edit.
# After changing a public function, run `python tools/gen_numpy_stubs.py` (tests/test_typing.py checks).
"""{doc}"""
from typing import Any, Sequence, TypeVar, overload

import numpy as np

from chainrule.typing import Array, ArrayLike, DTypeLike, Shape, Traced
'''


def stub(module):
    """The text of ``module``'s stub."""
    names = [n for n in module.__all__ if not inspect.ismodule(getattr(module, n))]
    lines = [_HEADER.format(module=module.__name__, doc=(module.__doc__ or "").strip().splitlines()[0])]
    if module.__name__ == "chainrule.numpy":
        lines += ["from numpy import e as e, float32 as float32, float64 as float64, inf as inf, nan as nan, "
                  "newaxis as newaxis, pi as pi", "",
                  "from chainrule.numpy import linalg as linalg, special as special", ""]
    lines += [f"__all__ = {module.__all__!r}", "", '_T = TypeVar("_T", bound=Traced)', ""]
    for name in names:
        obj = getattr(module, name)
        lines += (_at(obj) if inspect.isclass(obj) else _function(name, obj)) + [""]
    return "\n".join(lines)


def stubs():
    """``{path: text}`` of every stub."""
    import chainrule.numpy as cnp
    return {OUT / "__init__.pyi": stub(cnp), OUT / "linalg.pyi": stub(cnp.linalg),
            OUT / "special.pyi": stub(cnp.special)}


def main(argv):
    stale = []
    for path, text in stubs().items():
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                stale.append(path.relative_to(ROOT))
        else:
            path.write_text(text)
    if stale:
        print(f"out of date: {', '.join(map(str, stale))}; run python tools/gen_numpy_stubs.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    sys.exit(main(sys.argv[1:]))
