"""The tour (``chainrule`` alone) and ``chainrule explain "EXPR" x=1 y=2``.

Expressions are parsed with :mod:`ast` and evaluated by walking the tree:
numbers, variable names, ``+ - * / ** @``, unary minus, and calls of
``chainrule.numpy`` functions by name (``exp(x*y) + w``).  Nothing is passed
to ``eval``; anything else -- attribute access, subscripts, lambdas,
comprehensions, calls outside the list -- is refused with exit status 2, and
so is any operation whose result, bounded from its operands' shapes before it
runs, would be too large (``MAX_ELEMENTS``, ``MAX_TOTAL``).
"""
from __future__ import annotations

import argparse
import ast
import inspect
import math
import operator
import pathlib
import sys

import numpy as np

DEFAULT_PAGE = "chainrule-tour.html"
REFUSED = 2

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.Pow: operator.pow, ast.MatMult: operator.matmul}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_CONSTANTS = {"pi": math.pi, "e": math.e}


class ExpressionError(ValueError):
    """An expression that ``chainrule explain`` refuses, or cannot evaluate."""


#: ``chainrule.numpy`` functions an expression may call: the mathematics, not the array
#: makers (``ones(10**10)`` would only exhaust memory) nor anything that takes strings.
_EXCLUDED = {"arange", "array", "asarray", "astype", "at", "eye", "full", "full_like", "identity",
             "linspace", "ones", "ones_like", "zeros", "zeros_like", "tile", "repeat", "pad",
             "broadcast_to", "einsum", "linalg", "special", "split"}


def _functions():
    import chainrule.numpy as cnp
    names = {n: getattr(cnp, n) for n in cnp.__all__
             if n not in _EXCLUDED and callable(getattr(cnp, n, None))}
    names.update({n: getattr(cnp.special, n) for n in ("expit", "logit", "softplus", "erf", "logsumexp")})
    return names


def parse_expression(source: str):
    """``(tree, variables)``: the checked syntax tree and its free names, in order of appearance.

    >>> parse_expression("exp(x*y) + w")[1]
    ['x', 'y', 'w']
    >>> parse_expression("x.__class__")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    chainrule.explain.cli.ExpressionError: attribute access (x.__class__) is not allowed; ...
    """
    if len(source) > 10_000:
        raise ExpressionError(f"the expression is {len(source)} characters long; at most 10000 are read")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as e:
        shown = source if len(source) <= 60 else source[:57] + "..."
        raise ExpressionError(f"cannot parse {shown!r}: {e.msg}") from None
    except (RecursionError, MemoryError):
        raise ExpressionError("the expression is nested too deeply to read") from None
    functions = _functions()
    found = []
    for node in ast.walk(tree):
        what = _refusal(node, functions)
        if what:
            raise ExpressionError(what)
        if isinstance(node, ast.Name) and node.id not in functions and node.id not in _CONSTANTS:
            found.append((node.lineno, node.col_offset, node.id))
    return tree, list(dict.fromkeys(name for *_, name in sorted(found)))


_ALLOWED = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Call, ast.Name, ast.Constant, ast.Load,
            ast.keyword, ast.Tuple) + tuple(_BINARY) + tuple(_UNARY)


def _refusal(node, functions):
    """Why ``node`` is refused, or None."""
    hint = "; expressions may use numbers, names, + - * / ** @ and chainrule.numpy functions such as exp(x)"
    if isinstance(node, ast.Attribute):
        return f"attribute access ({ast.unparse(node)}) is not allowed" + hint
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            return f"only chainrule.numpy functions can be called, by name; not {ast.unparse(node.func)}" + hint
        if node.func.id not in functions:
            return _unknown_function(node.func.id, functions) + hint
        for kw in node.keywords:
            if kw.arg is None:
                return "** keyword unpacking is not allowed" + hint
        return None
    if isinstance(node, ast.Constant) and (isinstance(node.value, bool) or
                                           not isinstance(node.value, (int, float))):
        return f"only numbers are allowed as constants, not {node.value!r}" + hint
    if isinstance(node, ast.Name) and node.id.startswith("_"):
        return f"the name {node.id} is not allowed (names may not start with _)" + hint
    if not isinstance(node, _ALLOWED):
        kind = {ast.Lambda: "lambdas", ast.Subscript: "subscripts ([...])", ast.ListComp: "comprehensions",
                ast.GeneratorExp: "comprehensions", ast.SetComp: "comprehensions",
                ast.DictComp: "comprehensions", ast.Compare: "comparisons", ast.BoolOp: "and/or operators",
                ast.IfExp: "conditional expressions", ast.NamedExpr: "assignment expressions (:=)",
                ast.List: "lists", ast.Dict: "dicts", ast.Set: "sets", ast.Starred: "* unpacking",
                ast.JoinedStr: "f-strings", ast.Await: "await", ast.Yield: "yield",
                ast.YieldFrom: "yield"}.get(type(node), f"{type(node).__name__} nodes")
        verb = "are" if kind.split(" (")[0].endswith("s") else "is"  # "subscripts ([...]) are", "await is"
        return f"{kind} {verb} not allowed in an expression" + hint
    return None


def _unknown_function(name, functions):
    """``tahn() is not a chainrule.numpy function; did you mean tanh?``"""
    import difflib
    import chainrule.numpy as cnp
    if name in _EXCLUDED and hasattr(cnp, name):
        return (f"{name}() is not available in expressions (only mathematical functions are; "
                f"pass arrays as values, e.g. \"x=[1, 2, 3]\")")
    close = [f for f in functions if sorted(f) == sorted(name.lower())] \
        or difflib.get_close_matches(name.lower(), list(functions), n=1, cutoff=0.6)  # tahn: tanh, not tan
    return f"{name}() is not a chainrule.numpy function" + (f" (did you mean {close[0]}?)" if close else "")


#: The most elements any one value of an explained expression may have (80 MB of float64),
#: and all its values together (explain keeps every one, and an adjoint for each).
#: Each operation's result is bounded from its operands' shapes *before* it is computed.
MAX_ELEMENTS = 10_000_000
MAX_TOTAL = 50_000_000

#: Functions whose result can be larger than their operands broadcast together, and how:
#: "product" (outer, contractions, gathering: at most the product of the operand sizes),
#: "sum" (joining), "square" (a 1-D operand spread onto a matrix, with offset ``k``).
#: Every other allowed function is elementwise, a reduction, or moves elements around.
_GROWTH = {"outer": "product", "dot": "product", "inner": "product", "tensordot": "product",
           "matmul": "product", "take": "product", "take_along_axis": "product",
           "concatenate": "sum", "stack": "sum", "hstack": "sum", "vstack": "sum",
           "diag": "square", "tril": "square", "triu": "square"}


def _size_bound(kind, operands, k=0):
    """An upper bound on the number of elements of a result, from its operands' shapes only."""
    shapes = [np.shape(a) for a in operands]
    sizes = [math.prod(sh) for sh in shapes]
    if kind == "product":
        return math.prod(max(n, 1) for n in sizes)
    if kind == "sum":
        return sum(sizes)
    if kind == "square":
        n = max(sizes, default=1)
        try:
            k = abs(int(k))
        except (TypeError, ValueError, OverflowError):  # not an offset: diag itself refuses it
            k = 0
        return (n + k) ** 2 if shapes and len(shapes[0]) <= 1 else n
    try:
        return math.prod(np.broadcast_shapes(*shapes))
    except ValueError:  # the operation itself will say the shapes do not fit
        return max(sizes, default=1)


def _check_size(node, kind, operands, k, total):
    """Refuse ``node`` if its result could be too large; ``total[0]`` counts the elements so far."""
    n = _size_bound(kind, operands, k)
    total[0] += n
    if n > MAX_ELEMENTS:
        shapes = " and ".join(str(np.shape(a)) for a in operands if np.shape(a)) or "scalars"
        raise ExpressionError(
            f"refused {_shown(node)}: its result could have {n:,} elements ({_bytes(8 * n)} as "
            f"float64), from operands of shapes {shapes}; explain computes each value in memory "
            f"and allows at most {MAX_ELEMENTS:,} elements ({_bytes(8 * MAX_ELEMENTS)}) per value")
    if total[0] > MAX_TOTAL:
        raise ExpressionError(
            f"refused {_shown(node)}: with it the expression's values would hold {total[0]:,} "
            f"elements ({_bytes(8 * total[0])}); explain keeps every value and allows at most "
            f"{MAX_TOTAL:,} elements ({_bytes(8 * MAX_TOTAL)}) in all")


def _shown(node):
    text = ast.unparse(node)
    return text if len(text) <= 80 else text[:77] + "..."


def _bytes(n):
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.3g} EiB"  # pragma: no cover


def _operands(values):
    """The array operands among call arguments (tuples of arrays, for joins, flattened)."""
    out = []
    for v in values:
        if isinstance(v, tuple):
            out.extend(x for x in v if np.ndim(x))
        elif not isinstance(v, (int, str)) or isinstance(v, bool):
            out.append(v)
    return out


def evaluate(tree, env):
    """The value of a checked expression tree, with the variables in ``env``.

    Every operation's result is bounded from its operands' shapes before it runs, so an
    expression that would build a huge array (``outer(outer(x, x), outer(x, x))``) is
    refused with :class:`ExpressionError` instead of exhausting memory, and a number too
    large for a float (``9**9**9``) is refused by name.
    """
    functions = _functions()
    total = [0]

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, int):
                try:
                    return float(node.value)
                except OverflowError:
                    raise ExpressionError(f"refused the number {_shown(node)}: it is too large for a "
                                          f"float (the largest is about 1.8e308)") from None
            return node.value
        if isinstance(node, ast.Name):
            if node.id in env:
                return env[node.id]
            return _CONSTANTS[node.id]
        if isinstance(node, ast.BinOp):
            a, b = ev(node.left), ev(node.right)
            _check_size(node, "product" if isinstance(node.op, ast.MatMult) else None, (a, b), 0, total)
            try:
                return _BINARY[type(node.op)](a, b)
            except OverflowError:  # Python floats raise where NumPy would give inf
                raise ExpressionError(
                    f"refused {_shown(node)}: {a!r} {_OP_TEXT[type(node.op)]} {b!r} is too large for "
                    f"a float (the largest is about 1.8e308); explain computes in float64") from None
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](ev(node.operand))
        if isinstance(node, ast.Tuple):
            return tuple(_param(float(v)) if float(v).is_integer() else v for v in map(ev, node.elts))
        if isinstance(node, ast.Call):
            name = node.func.id
            kwargs = {kw.arg: _param(ev(kw.value)) for kw in node.keywords}
            args = [ev(a) for a in node.args]
            k = kwargs.get("k", args[1] if name == "diag" and len(args) > 1 else 0)
            _check_size(node, _GROWTH.get(name), _operands(args[:1] if name == "diag" else args)
                        + _operands(v for key, v in kwargs.items() if key != "k"), k, total)
            return functions[name](*args, **kwargs)
        raise ExpressionError(f"cannot evaluate {ast.unparse(node)}")  # unreachable after checking

    return ev(tree)


_OP_TEXT = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.MatMult: "@"}


def _param(v):
    """A whole-number float as an int (an axis, a count, a shape), refused beyond 64 bits."""
    if isinstance(v, float) and v.is_integer():
        if abs(v) >= 2 ** 63:
            raise ExpressionError(f"refused the integer {v:g}: axes, counts and shapes must fit in "
                                  f"64 bits (below 9.2e18)")
        return int(v)
    return v


def expression_function(source: str, names):
    """A Python function of ``names`` computing the expression (for ``cr.explain``)."""
    tree, variables = parse_expression(source)
    unknown = [v for v in variables if v not in names]
    if unknown:
        raise ExpressionError(f"no value for {', '.join(unknown)}; pass "
                              f"{' '.join(f'{v}=VALUE' for v in unknown)} after the expression")

    def f(*args):
        return evaluate(tree, dict(zip(names, args)))

    f.__signature__ = inspect.Signature([inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                                         for n in names])
    f.__name__ = source
    return f


def parse_assignments(items):
    """``["x=1", "y=[1, 2]"]`` -> ``{"x": 1.0, "y": array([1., 2.])}`` (numbers and lists only)."""
    values = {}
    for item in items:
        name, eq, text = item.partition("=")
        name = name.strip()
        if not eq or not name.isidentifier() or name.startswith("_"):
            raise ExpressionError(f"cannot read {item!r} as a variable value; write NAME=NUMBER, e.g. x=1.5")
        if name in values:
            raise ExpressionError(f"{name} is given twice ({name}={text}); give each variable one value")
        try:
            try:
                value = float(text.strip())  # also nan, inf, -inf
            except ValueError:
                value = ast.literal_eval(text.strip())
            arr = np.asarray(value, dtype=float)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            raise ExpressionError(f"the value of {name} must be a number or a list of numbers, "
                                  f"got {text!r}; e.g. {name}=1.5, {name}=-2, {name}=1e-3 or "
                                  f"\"{name}=[1, 2, 3]\"") from None
        values[name] = float(arr) if arr.ndim == 0 else arr
    return values


# -- the command line -----------------------------------------------------------

def add_tour_arguments(parser):
    """Add the tour's options to the top-level ``chainrule`` parser."""
    parser.add_argument("--html", metavar="PATH", default=None,
                        help=f"where to write the interactive page (default: ./{DEFAULT_PAGE})")
    parser.add_argument("--no-html", action="store_true", help="do not write the interactive page")
    parser.add_argument("--latex", action="store_true", help="also print the steps as LaTeX")


def add_explain_command(subparsers):
    """Register ``chainrule explain``."""
    p = subparsers.add_parser(
        "explain", help="explain the gradient of an expression, step by step",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Explain how reverse mode finds the gradient of an expression: every forward\n"
                    "value, then every backward step (adjoint x local derivative).\n\n"
                    "The expression may use numbers, variable names, + - * / ** @, pi, e and\n"
                    "chainrule.numpy's mathematical functions by name (exp, tanh, sum, matmul, ...;\n"
                    "keyword arguments such as axis=0). Its value must be a single number: wrap an\n"
                    "array expression in sum(...).",
        epilog="examples:\n"
               '  chainrule explain "exp(x*y) + w" x=1 y=2 w=3\n'
               '  chainrule explain "sum(tanh(x) ** 2)" "x=[0.5, 1.0, -2]"   # an array: a quoted list\n'
               '  chainrule explain "sum(W @ x)" "W=[[1, 2], [3, 4]]" "x=[1, -1]" --html steps.html\n'
               '  chainrule explain -- "-x**2" x=1e-3                        # -- before an expression '
               'starting with -')
    p.add_argument("expression", help='the expression, quoted for the shell, e.g. "exp(x*y) + w"')
    p.add_argument("values", nargs="*", metavar="NAME=VALUE",
                   help="each variable's value: a number (1.5, -2, 1e-3) or a list of numbers for an array")
    p.add_argument("--html", metavar="PATH", default=None, help="also write the interactive page to PATH")
    p.add_argument("--latex", action="store_true", help="also print the steps as LaTeX")
    p.set_defaults(handler=run_explain)


def run_explain(args) -> int:
    """``chainrule explain``: print the steps; returns the exit status."""
    from chainrule.explain import explain
    try:
        values = parse_assignments(args.values)
        f = expression_function(args.expression, list(values))
        if not values:
            raise ExpressionError("the expression has no variables to differentiate; use one and give "
                                  "its value, e.g. chainrule explain \"exp(x)\" x=1")
        with np.errstate(all="ignore"):  # an inf or a nan shows in the steps; no warning lines
            ex = explain(f, *values.values())
    except ExpressionError as e:
        print(f"chainrule explain: {e}", file=sys.stderr)
        return REFUSED
    except RecursionError:
        print("chainrule explain: the expression is nested too deeply to evaluate", file=sys.stderr)
        return REFUSED
    except (ValueError, TypeError, ArithmeticError) as e:
        message = str(e).removeprefix("explain: ")
        if "scalar output" in message:  # the expression language has no .sum(): say what to write
            message = message.split(";")[0] + "; explain follows one number back: wrap the expression in sum(...)"
        print(f"chainrule explain: {message}", file=sys.stderr)
        return 1
    ex.title = args.expression
    print(ex)
    if args.latex:
        print("\n" + ex.latex())
    if args.html:
        try:
            print(f"\nInteractive page: {ex.save(args.html)}")
        except OSError as e:
            print(f"chainrule explain: cannot write {args.html}: {e.strerror}", file=sys.stderr)
            return 1
    return 0


def tour_explanations():
    """The tour's three worked examples, explained: ``[(heading, Explanation)]``."""
    import chainrule.numpy as cnp
    from chainrule.explain import explain

    def L(x, y, w):
        return cnp.exp(x * y) + w

    def y(x):
        return (x ** 2 + 1) ** 3

    x_in, target = 0.8, 0.5  # the training example of examples/tiny_mlp.py

    def loss(w11, b1, w12, b2, wo1, wo2, bo, x, target):
        h1 = cnp.tanh(w11 * x + b1)
        h2 = cnp.tanh(w12 * x + b2)
        out = wo1 * h1 + wo2 * h2 + bo
        return (out - target) ** 2 / 2

    weights = dict(w11=0.5, b1=0.1, w12=-0.4, b2=-0.1, wo1=0.8, wo2=0.6, bo=0.05)
    tour = [("1. L = eˣʸ + w at x = 1, y = 2, w = 3", explain(L, 1.0, 2.0, 3.0, output="L")),
            ("2. y = (x² + 1)³ at x = 1.5", explain(y, 1.5, output="y")),
            (f"3. The 1-2-1 tanh network, L = (y - {target})² / 2 at x = {x_in}",
             explain(loss, *weights.values(), x_in, target, wrt=list(weights), output="L"))]
    for heading, ex in tour:
        ex.title = heading
    return tour


def run_tour(args) -> int:
    """Run the tour; returns the exit status."""
    from chainrule.explain.html import document
    tour = tour_explanations()
    for heading, ex in tour:
        print(heading)
        print("=" * len(heading))
        print(ex)
        if getattr(args, "latex", False):
            print("\n" + ex.latex())
        print()
    if not getattr(args, "no_html", False):
        path = pathlib.Path(getattr(args, "html", None) or DEFAULT_PAGE)
        try:
            path.write_text(document("chainrule: the chain rule, step by step", [ex for _, ex in tour])
                            + "\n", encoding="utf-8")
        except OSError as e:
            print(f"chainrule: cannot write the interactive page to {path}: {e.strerror}; "
                  f"choose another place with --html PATH, or pass --no-html", file=sys.stderr)
            return 1
        print(f"Interactive page: {path.resolve()}  (open it in a browser; → steps, ← goes back)")
    return 0
