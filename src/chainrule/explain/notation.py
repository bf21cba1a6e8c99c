"""Notation shared by the renderers: numbers, names, adjoints, and the primitives' formulas.

Numbers print with four significant digits (``7.389``); arrays print as their
shape and a short summary (``2×3 [-0.5 … 1.2]``).  Adjoints wear a bar: ``ū``
in text, ``\\bar{u}`` in LaTeX.  Local derivatives are the ``formulas`` each
primitive declares in its ``defprim`` block, with the primitive's argument
names replaced by the names of the nodes they stand for.
"""
from __future__ import annotations

import inspect
import re
import unicodedata

import numpy as np

from chainrule._core.primitive import REGISTRY



def num(v) -> str:
    """A number in four significant digits, or an array as its shape and a summary.

    >>> num(7.38905609893065), num(2.0), num(np.array([1.0, 2.5])), num(np.zeros((2, 3)))
    ('7.389', '2', '[1, 2.5]', '2×3 [0 … 0]')
    >>> num(np.array([[1.0, 2.0], [3.0, 4.0]])), num(np.array([[0.5], [2.0]]))
    ('[[1, 2], [3, 4]]', '[[0.5], [2]]')
    """
    a = np.asarray(v)
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        return repr(v)
    if a.dtype == bool and a.size == 1:
        return str(bool(a.reshape(())))
    if a.size == 1:
        x = float(a.reshape(()))
        s = f"{x:.4g}"
        return "0" if s == "-0" else s
    if a.ndim == 1 and a.size <= 4:
        return "[" + ", ".join(num(x) for x in a) + "]"
    if a.ndim == 2 and a.size <= 4:  # a small matrix in full when short: [[1, 2], [3, 4]]
        full = "[" + ", ".join(num(row) if row.size > 1 else f"[{num(row)}]" for row in a) + "]"
        if len(full) <= 24:
            return full
    if a.size == 0:
        return f"{shape_text(a.shape)} []"
    return f"{shape_text(a.shape)} [{num(a.min())} … {num(a.max())}]"


def paren(s: str, tex: bool = False) -> str:
    """``s`` in parentheses when it is a sum, a difference or a negative number.

    >>> paren("-0.5"), paren("1 - tanh(v)^2"), paren("exp(u)")
    ('(-0.5)', '(1 - tanh(v)^2)', 'exp(u)')
    """
    depth, loose = 0, s.startswith(("-", "−"))
    for i, c in enumerate(s):
        depth += c in "({["
        depth -= c in ")}]"
        if depth == 0 and i > 0 and c in "+-−" and s[i - 1] not in "^e({":
            loose = True
    if not loose:
        return s
    return rf"\left({s}\right)" if tex else f"({s})"


def shape_text(shape) -> str:
    return "×".join(str(n) for n in shape) if shape else "scalar"


def width(s: str) -> int:
    """Columns ``s`` takes on a terminal (combining marks such as the bar take none)."""
    return sum(0 if unicodedata.combining(c) else 1 for c in s)


def pad(s: str, n: int) -> str:
    return s + " " * max(0, n - width(s))


def bar(name: str) -> str:
    """The adjoint of ``name`` in text: ``ū``, ``w̄11``, ``b̅o̅``, ``w̅o̅2``; a long name as ``fc.weight.grad``.

    The bar covers a name's letters, not the digits after them (as LaTeX's subscript).

    >>> bar("u"), bar("w11"), bar("wo2"), bar("fc.weight")
    ('ū', 'w̄11', 'w̅o̅2', 'fc.weight.grad')
    """
    if re.fullmatch(r"[^\W\d_](_?[0-9]+|[₀-₉]*)", name):  # NFC: ū precomposed, x̄ combining; θ̄ too
        return unicodedata.normalize("NFC", name[0] + "\u0304" + name[1:])
    m = re.fullmatch(r"([A-Za-z]{2,3})(_?[0-9]+)", name)
    if m:
        return "".join(c + "\u0305" for c in m.group(1)) + m.group(2)
    if len(name) <= 3:
        return "".join(c + "\u0305" for c in name)
    return name + ".grad"


def _letter(c: str) -> str:
    """One letter in LaTeX: ``x``, and a Greek letter as its command (``θ`` -> ``\\theta``)."""
    if c.isascii():
        return c
    words = unicodedata.name(c, "").split()
    if words[:2] == ["GREEK", "SMALL"] and len(words) == 4:
        return "\\" + words[3].lower().replace("lamda", "lambda") + " "
    if words[:2] == ["GREEK", "CAPITAL"] and len(words) == 4:
        return "\\" + words[3].capitalize().replace("Lamda", "Lambda") + " "
    return rf"\text{{{c}}}"


def tex(name: str) -> str:
    """``name`` in LaTeX: ``w11`` -> ``w_{11}``, ``θ`` -> ``\\theta``, ``fc.weight`` -> ``\\mathrm{fc.weight}``."""
    m = re.fullmatch(r"([^\W\d_])(?:_?([0-9]+))?", name)
    if m:
        return _letter(m.group(1)).strip() + (f"_{{{m.group(2)}}}" if m.group(2) else "")
    m = re.fullmatch(r"([A-Za-z]{2,3})_?([0-9]+)", name)  # wo2 -> \mathrm{wo}_{2}
    if m:
        return rf"\mathrm{{{m.group(1)}}}_{{{m.group(2)}}}"
    return r"\mathrm{" + name.replace("_", r"\_") + "}"


def texbar(name: str) -> str:
    """The adjoint in LaTeX, as :func:`bar` writes it: ``\\bar{w}_{11}``, ``\\overline{\\mathrm{bo}}``,
    ``\\mathrm{fc.weight.grad}``."""
    m = re.fullmatch(r"([^\W\d_])(?:_?([0-9]+))?", name)
    if m:
        return r"\bar{" + _letter(m.group(1)).strip() + "}" + (f"_{{{m.group(2)}}}" if m.group(2) else "")
    if bar(name).endswith(".grad"):
        return tex(name + ".grad")
    m = re.fullmatch(r"([A-Za-z]{2,3})_?([0-9]+)", name)
    if m:
        return rf"\overline{{\mathrm{{{m.group(1)}}}}}_{{{m.group(2)}}}"
    return r"\overline{" + tex(name) + "}"


# -- forward expressions --------------------------------------------------------
# How a primitive's forward step reads is declared with the primitive (``notation=``
# in its ``defprim`` block); a primitive without one reads as a call, ``name(x, y)``.

#: Primitives that run a user's function under a rule of their own, and what to call them.
_WRAPPERS = {"custom_vjp_call": "custom_vjp", "custom_jvp_call": "custom_jvp", "checkpoint": "checkpoint"}


def index_text(idx) -> str:
    """``(0, slice(None, 2))`` -> ``0, :2`` (as written between brackets)."""
    if isinstance(idx, tuple):
        return ", ".join(index_text(i) for i in idx)
    if isinstance(idx, slice):
        parts = ["" if v is None else str(v) for v in (idx.start, idx.stop, idx.step)]
        return ":".join(parts[:2] if idx.step is None else parts)
    if idx is Ellipsis:
        return "..."
    if idx is None:
        return "None"
    if isinstance(idx, (np.ndarray, list)):
        a = np.asarray(idx)
        if a.ndim == 1 and a.size <= 6:
            return "[" + ", ".join(str(v) for v in a.tolist()) + "]"
        return f"{'mask' if a.dtype == bool else 'indices'} {shape_text(a.shape)}"
    return str(idx)


def _simple(v):
    """A parameter worth printing: a number, a string, a short tuple (not an object's repr)."""
    return isinstance(v, (int, float, str, tuple)) and len(repr(v)) <= 24


def param_text(v) -> str:
    """A parameter as written in a formula: ``float32`` for a dtype, ``(2, 3)`` for a tuple."""
    if isinstance(v, (np.dtype, type)):
        return np.dtype(v).name
    return repr(v)


def wrapped_name(params):
    """The user function a ``custom_vjp`` / ``checkpoint`` call wraps (``myf``), or None."""
    for v in params.values():
        for obj in (getattr(v, "owner", None), getattr(v, "f", None)):
            name = getattr(obj, "__name__", None)
            if isinstance(name, str) and name.isidentifier():
                return name
    return None


def forward_expr(op, args, params, elementwise_arrays=False):
    """``(text, latex)`` of ``op`` applied to ``args`` (pairs of text and LaTeX)."""
    texts = [a[0] for a in args]
    texes = [a[1] for a in args]
    inner = wrapped_name(params) if op in _WRAPPERS else None
    if inner:  # a custom rule or a checkpoint around the user's function: name both
        kind = _WRAPPERS[op]
        return (f"{inner}({', '.join(texts)})  [{kind}]",
                rf"\operatorname{{{inner.replace('_', chr(92) + '_')}}}({', '.join(texes)})")
    if op == "getitem" and "idx" in params and len(args) == 1:
        idx = index_text(params["idx"])
        return f"{texts[0]}[{idx}]", f"{texes[0]}_{{[{idx}]}}"
    if op == "index_set" and "idx" in params and len(args) == 2:
        idx = index_text(params["idx"])
        return (f"{texts[0]} with [{idx}] ← {texts[1]}",
                rf"{texes[0]} \text{{ with }} [{idx}] \leftarrow {texes[1]}")
    if op == "einsum" and "terms" in params and "out" in params:
        spec = ",".join(params["terms"]) + "->" + params["out"]
        spec_tex = spec.replace("->", r"{\to}")
        return (f"einsum('{spec}', {', '.join(texts)})",
                rf"\operatorname{{einsum}}_{{\mathtt{{{spec_tex}}}}}({', '.join(texes)})")
    if op == "astype" and "dtype" in params and len(args) == 1:
        return f"{texts[0]} as {param_text(params['dtype'])}", \
            rf"{texes[0]}\ (\mathtt{{{param_text(params['dtype'])}}})"
    extra = ", ".join(f"{k}={param_text(v)}" for k, v in params.items()
                      if v is not None and v is not False and _simple(v))
    notation = getattr(REGISTRY.get(op), "notation", None)  # declared with the primitive
    if notation and (not extra or op == "sum"):
        t, l = notation
        if op == "multiply" and elementwise_arrays:
            t, l = "{0} ⊙ {1}", r"{0} \odot {1}"
        if op == "power" and len(texts) == 2 and texts[1] in ("2", "3"):
            t = "{0}" + "²³"[int(texts[1]) - 2]
        text, latex = t.format(*texts), l.format(*texes)
        if op == "sum" and extra:
            text += f" ({extra})"
        return text, latex
    joined = ", ".join(texts + ([extra] if extra else []))
    return f"{op}({joined})", rf"\operatorname{{{op.replace('_', chr(92) + '_')}}}({', '.join(texes)})"


_SUPER = str.maketrans("0123456789-.", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻·")


def _power_rule(m):
    """``3*v^(3-1)`` -> ``3·v²``: the power rule with a constant exponent, simplified."""
    try:
        k = float(m.group(1).strip("()"))
    except ValueError:
        return m.group(0)
    e = k - 1
    e_text = f"{e:g}"
    if e == 1:
        return f"{m.group(1)}·{m.group(2)}"
    return f"{m.group(1)}·{m.group(2)}" + (e_text.translate(_SUPER) if len(e_text) <= 3 else f"^{e_text}")


def _power_rule_tex(m):
    try:
        e = float(m.group(1).strip("()")) - 1
    except ValueError:
        return m.group(0)
    return f"{m.group(1)}\\,{m.group(2)}" + ("" if e == 1 else f"^{{{e:g}}}")


# -- local derivatives ----------------------------------------------------------

def arg_names(p, n):
    """The names the primitive's formulas use for its ``n`` inputs (from its VJP rules)."""
    try:
        rule = p.vjps[0] if p.vjps[0] is not None else next(r for r in p.vjps if r is not None)
        params = list(inspect.signature(rule).parameters.values())[1:]
        names = [q.name for q in params if q.kind in (q.POSITIONAL_ONLY, q.POSITIONAL_OR_KEYWORD)][:n]
    except (TypeError, ValueError, StopIteration):
        names = []
    if len(names) < n:
        names = ["x", "y", "z", "a", "b", "c"][:n] if n <= 6 else [f"x{i}" for i in range(n)]
    return names


def _name(m, names, times):
    """The node name for the formula's token ``m``, after ``times`` when a number precedes it."""
    token = m.group(0)
    if token not in names:
        return token
    after_digit = m.start() > 0 and m.string[m.start() - 1].isdigit()
    return (times if after_digit else "") + names[token]


def local_formula(p, i, n, subs_text, subs_tex, adj_text, adj_tex, params=None, shapes=None):
    """The local derivative of input ``i`` as declared by ``p``, with names substituted.

    Returns ``(text, latex, has_adjoint)``: ``has_adjoint`` is True when the
    formula is a whole vector-Jacobian product that contains the downstream
    adjoint (``g @ y.T``), False for an elementwise factor (``exp(x)``).
    An input given as ``None`` (an optional argument left out) drops out of
    the formula; a primitive's parameters (``idx``, ``shift``) read as their values.
    """
    params = params or {}
    f = p.formulas[i] if p.formulas is not None else None
    if callable(f):  # written from the step's own shapes and parameters (concatenate, einsum, ...)
        try:
            text, latex = f(i, shapes, params, subs_text, subs_tex, adj_text, adj_tex)
            return text, latex, adj_text in text
        except (KeyError, IndexError, TypeError):
            f = None
    if f is None:  # no formula declared: name the rule that ran
        rule = _WRAPPERS.get(p.name, p.name)
        who = wrapped_name(params)
        return (f"{rule} rule{' of ' + who if who else ''} applied to {adj_text}",
                rf"\operatorname{{vjp}}_{{\mathrm{{{(who or rule).replace('_', '-')}}}}}({adj_tex})", True)
    text, latex = f
    names = arg_names(p, n)
    has_adjoint = bool(re.search(r"\bg\b", text)) or ("h" not in names and bool(re.search(r"\bh\b", text)))
    tmap = dict(zip(names, subs_text))
    tmap["ans"] = subs_text[-1]
    lmap = dict(zip(names, subs_tex))
    lmap["ans"] = subs_tex[-1]
    for k, v in params.items():  # the step's parameters, by value
        if k not in tmap and k not in ("g", "h") and (_simple(v) or k == "idx"):
            tmap[k] = index_text(v) if k == "idx" else param_text(v)
            numeric = re.fullmatch(r"-?[\d.]+", tmap[k])
            lmap[k] = tmap[k] if numeric else r"\mathtt{" + tmap[k].replace("_", r"\_") + "}"
            latex = latex.replace(r"\mathrm{" + k + "}", k)
    if has_adjoint:
        tmap.setdefault("g", adj_text)
        tmap.setdefault("h", adj_text)
    text = re.sub(r"(?<![A-Za-z_.])[A-Za-z_]\w*", lambda m: _name(m, tmap, "·"), text)  # 2x -> 2·u
    text = text.replace(".T", "ᵀ").replace(" @ ", " · ")
    text = re.sub(r"^(\(?-?[\d.]+\)?)\*(\w+)\^\(\1-1\)$", _power_rule, text)
    text = re.sub(r"(?<=[\w)])\*(?=[\w(])", "·", text.replace(" * ", " · "))
    text = re.sub(r"\^([0-9])(?![0-9.])", lambda m: m.group(1).translate(_SUPER), text)  # x^2 -> x², as forward
    latex = re.sub(r"\\bar\s*([gh])(?![A-Za-z0-9])", lambda m: "\x00" if m.group(1) in ("g", "h") else m.group(0), latex)
    latex = latex.replace(r"\mathrm{ans}", "\x01")
    latex = re.sub(r"(?<![\\A-Za-z_])[A-Za-z]\w*", lambda m: _name(m, lmap, r"\,"), latex)
    latex = latex.replace("\x00", adj_tex + " ").replace("\x01", subs_tex[-1])
    latex = re.sub(r"^(\(?-?[\d.]+\)?)\\,(\S+?)\^\{\1-1\}$", _power_rule_tex, latex)
    # an optional input left out (None) reads as nothing: "b exp(x - f)" -> "exp(x - f)"
    text = re.sub(r"^\s+", "", text.replace("\x02 ", "").replace("\x02·", "").replace("\x02", ""))
    latex = re.sub(r"^(\s|\\,)+", "", latex.replace("\x02", ""))
    return text, latex, has_adjoint
