"""``Module``: a model whose parameters are tape leaves, usable functionally too.

A parameter is any ``cr.Tensor`` leaf with ``requires_grad=True`` held by a module,
as an attribute, or in a list, tuple or dict attribute; a submodule is any
``Module`` held the same way.  Nothing has to be registered: ``named_parameters``
walks the attributes in the order they were set, and names each parameter by its
dotted path (``layers.0.weight``), as PyTorch does.

Two faces, one ``forward``:

* tape: ``loss = F.mse_loss(model(x), y); loss.backward()`` fills each
  parameter's ``.grad``;
* functional: ``model.apply(params, x)`` runs the same ``forward`` with the
  parameters taken from ``params``, a dict ``{path: array}``, so ``cr.grad``,
  ``cr.vmap`` and ``cr.jvp`` apply to whole training steps.  Like
  ``torch.func.functional_call``, ``apply`` puts the given values in place of the
  parameters for the duration of the call and then puts the parameters back; a
  module is therefore not to be applied from two threads at once.
"""
from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, Iterator, Mapping

import numpy as np

from chainrule._core.grad_mode import no_grad
from chainrule._interpreters.reverse import Tensor, _write

if TYPE_CHECKING:
    from typing_extensions import Self

    from chainrule.typing import ArrayLike, DTypeLike

__all__ = ["Module", "parameter"]


def parameter(value: ArrayLike, dtype: DTypeLike = None) -> Tensor:
    """A tape leaf that requires grad, made from a copy of ``value`` (float64 unless ``dtype``).

    >>> import chainrule as cr
    >>> cr.nn.parameter([1, 2])                  # integers become float64
    tensor([1., 2.], requires_grad=True)
    """
    if type(value) is Tensor:
        value = value.detach().numpy()
    value = np.asarray(value)
    if dtype is None:
        dtype = value.dtype if np.issubdtype(value.dtype, np.floating) else np.float64
    value = np.array(value, dtype=dtype, copy=True)
    t = Tensor(value, requires_grad=True)
    _MADE_BY_PARAMETER[id(t)] = t
    return t


#: the tensors made by ``parameter``: they stay parameters when frozen with ``requires_grad_(False)``
_MADE_BY_PARAMETER: weakref.WeakValueDictionary[Any, Tensor] = weakref.WeakValueDictionary()


def _is_parameter(v):
    """A tape leaf that requires grad, or one made by ``parameter`` and since frozen."""
    return type(v) is Tensor and v._prim is None and v._level == 0 and (
        v.requires_grad or _MADE_BY_PARAMETER.get(id(v)) is v)


def _zero_grads(params, set_to_none):
    for t in params:
        t.grad = None if set_to_none or t.grad is None else Tensor(np.zeros_like(t._value))


#: the modules whose repr is being built (a module holding a reference to an ancestor)
_IN_REPR: set[Any] = set()


class ModuleInputError(ValueError):
    """A layer was given an input it cannot take; the message names the layer's path in the model.

    Raised by a layer (``Linear``) with ``module`` set to itself; each enclosing
    ``Module.__call__`` on the way out records where that layer sits, so the
    message names it by its path in the outermost model called (``'layers.1' of the MLP``).
    """

    def __init__(self, module, problem):
        super().__init__(problem)
        self.module, self.problem, self.path, self.root = module, problem, None, None

    def __str__(self):
        if self.path:
            where = f"{type(self.module).__name__} {self.path!r} of the {self.root}"
        else:
            where = repr(self.module)
        return f"{where}: {self.problem}"


class Module:
    """Base class of models: subclass it, set parameters and submodules as attributes, write ``forward``.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> class Affine(cr.nn.Module):
    ...     def __init__(self):
    ...         self.w = cr.nn.parameter([2.0, -1.0])
    ...         self.b = cr.nn.parameter(0.5)
    ...     def forward(self, x):
    ...         return x @ self.w + self.b
    >>> m = Affine()
    >>> [name for name, _ in m.named_parameters()]
    ['w', 'b']
    >>> x = np.array([[1.0, 1.0], [2.0, 0.0]])
    >>> m(x)
    tensor([1.5, 4.5], grad_fn=<add>)
    >>> m.apply({"w": np.array([1.0, 1.0]), "b": 0.0}, x)
    array([2., 2.])
    """

    training = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self.forward(*args, **kwargs)
        except ModuleInputError as e:
            if e.module is not self:
                path = next((p for p, m in self.named_modules() if m is e.module), None)
                if path is not None:
                    e.path, e.root = path, type(self).__name__
            raise

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The module's computation: override it (``model(x)`` calls ``forward(x)``).

        >>> import chainrule as cr
        >>> class Double(cr.nn.Module):
        ...     def forward(self, x):
        ...         return 2 * x
        >>> Double()(cr.tensor([1.0, 2.0]))
        tensor([2., 4.])
        """
        raise NotImplementedError(f"{type(self).__name__}.forward is not defined: a Module subclass "
                                  f"computes its output in forward(self, x)")

    # -- walking the module tree ----------------------------------------------------------
    def _slots(self):
        """``(path, container, key)`` for every place a parameter is held, in attribute order.

        A parameter held in two places appears twice, under the path where it was
        met first.  Iterative, over the module tree (not the computation graph).
        """
        slots, seen_params, seen_modules = [], {}, {id(self)}
        stack = [("", vars(self), list(vars(self)))]
        # depth-first, preserving attribute order: each frame is (prefix, container, keys left)
        while stack:
            prefix, container, keys = stack[-1]
            if not keys:
                stack.pop()
                continue
            key = keys.pop(0)
            value = container[key]
            path = f"{prefix}{key}"
            if _is_parameter(value):
                slots.append((seen_params.setdefault(id(value), path), container, key))
            elif isinstance(value, Module):
                if id(value) not in seen_modules:
                    seen_modules.add(id(value))
                    stack.append((path + ".", vars(value), list(vars(value))))
            elif type(value) in (list, tuple):
                stack.append((path + ".", value, list(range(len(value)))))
            elif type(value) is dict:
                stack.append((path + ".", value, [k for k in value if isinstance(k, str)]))
        return slots

    def named_parameters(self) -> Iterator[tuple[str, Tensor]]:
        """``(dotted_path, Tensor)`` for each parameter (each once), in attribute order.

        >>> import chainrule as cr
        >>> model = cr.nn.MLP([2, 3, 1])
        >>> [path for path, _ in model.named_parameters()]
        ['layers.0.weight', 'layers.0.bias', 'layers.1.weight', 'layers.1.bias']
        """
        seen = set()
        for path, container, key in self._slots():
            if path not in seen:
                seen.add(path)
                yield path, container[key]

    def parameters(self) -> list[Tensor]:
        """The parameters (tape leaves with ``requires_grad=True``), each once.

        >>> import chainrule as cr
        >>> model = cr.nn.MLP([2, 3, 1])
        >>> [p.shape for p in model.parameters()]
        [(2, 3), (3,), (3, 1), (1,)]
        """
        return [t for _, t in self.named_parameters()]

    def named_modules(self) -> list[tuple[str, Module]]:
        """``(dotted_path, module)`` for this module (path ``""``) and every submodule, each once.

        Depth first, in attribute order, with the paths of ``named_parameters``
        (``layers.0``), as ``torch.nn.Module.named_modules``.

        >>> import chainrule as cr
        >>> model = cr.nn.MLP([2, 3, 1])
        >>> [path for path, _ in model.named_modules()]
        ['', 'layers.0', 'layers.1']
        """
        out, seen = [], set()
        stack = [("", self)]
        while stack:
            path, m = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            out.append((path, m))
            stack.extend(reversed([(f"{path}.{name}" if path else name, child)
                                   for name, child in m._named_children()]))
        return out

    def _named_children(self):
        """``(name, module)`` for the modules held directly (in attributes, lists, tuples, dicts)."""
        out = []
        todo = [(k, v) for k, v in vars(self).items()]
        while todo:
            name, v = todo.pop(0)
            if isinstance(v, Module):
                out.append((name, v))
            elif type(v) in (list, tuple):
                todo[:0] = [(f"{name}.{i}", x) for i, x in enumerate(v)]
            elif type(v) is dict:
                todo[:0] = [(f"{name}.{k}", x) for k, x in v.items() if isinstance(k, str)]
        return out

    def named_children(self) -> list[tuple[str, Module]]:
        """``(name, module)`` for the direct submodules, in attribute order.

        >>> import chainrule as cr
        >>> model = cr.nn.MLP([2, 3, 1])
        >>> model.named_children()
        [('layers.0', Linear(in_features=2, out_features=3, bias=True)), ('layers.1', Linear(in_features=3, out_features=1, bias=True))]
        """
        return list(self._named_children())

    def children(self) -> list[Module]:
        """The direct submodules, in attribute order.

        >>> import chainrule as cr
        >>> model = cr.nn.MLP([2, 3, 1])
        >>> model.children()
        [Linear(in_features=2, out_features=3, bias=True), Linear(in_features=3, out_features=1, bias=True)]
        """
        return [m for _, m in self._named_children()]

    def modules(self) -> list[Module]:
        """This module and every submodule, each once, depth first.

        >>> import chainrule as cr
        >>> model = cr.nn.MLP([2, 3, 1])
        >>> [type(m).__name__ for m in model.modules()]
        ['MLP', 'Linear', 'Linear']
        """
        return [m for _, m in self.named_modules()]

    def num_parameters(self, trainable_only: bool = False) -> int:
        """The number of parameter elements (``trainable_only``: only those with ``requires_grad``).

        >>> import chainrule as cr
        >>> model = cr.nn.MLP([2, 3, 1])
        >>> model.num_parameters()                     # 2*3 + 3 + 3*1 + 1
        13
        """
        return sum(int(np.prod(t.shape, dtype=np.int64)) for t in self.parameters()
                   if t.requires_grad or not trainable_only)

    def requires_grad_(self, requires_grad: bool = True) -> Self:
        """Freeze (``False``) or unfreeze every parameter; returns ``self``.

        A frozen parameter stays a parameter (in ``named_parameters``, ``state_dict``
        and ``apply``) but gets no ``.grad``, so the optimisers leave it alone.

        >>> import chainrule as cr
        >>> model = cr.nn.MLP([2, 3, 1])
        >>> model.layers[0].requires_grad_(False)     # freeze the first layer
        Linear(in_features=2, out_features=3, bias=True)
        >>> model.num_parameters(trainable_only=True)  # 3*1 + 1
        4
        """
        for t in self.parameters():
            t.requires_grad_(requires_grad)
        return self

    def to(self, dtype: DTypeLike) -> Self:
        """Cast every parameter to the floating ``dtype`` in place (e.g. ``np.float32``); returns ``self``.

        The parameters stay the same tensors (an optimiser built on them still holds
        them, and casts its state to match at its next step); their ``.grad`` is cleared.

        >>> import numpy as np, chainrule as cr
        >>> model = cr.nn.Linear(2, 1).to(np.float32)
        >>> model.weight.dtype
        dtype('float32')
        """
        dtype = np.dtype(dtype)
        if not np.issubdtype(dtype, np.floating):
            raise TypeError(f"{type(self).__name__}.to: parameters must have a floating dtype "
                            f"(np.float32, np.float64), got {dtype}")
        for t in self.parameters():
            t._value = np.array(t._value, dtype=dtype, copy=True)
            t.grad = None
        return self

    def float(self) -> Self:
        """``to(np.float32)``.

        >>> import chainrule as cr
        >>> cr.nn.Linear(2, 1).float().weight.dtype
        dtype('float32')
        """
        return self.to(np.float32)

    def double(self) -> Self:
        """``to(np.float64)``.

        >>> import chainrule as cr
        >>> cr.nn.Linear(2, 1).float().double().weight.dtype
        dtype('float64')
        """
        return self.to(np.float64)

    # -- training state -----------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Set every parameter's ``.grad`` to ``None`` (gradients accumulate until then).

        ``set_to_none=False`` sets them to zeros instead (PyTorch's option).

        >>> import numpy as np, chainrule as cr
        >>> model = cr.nn.Linear(2, 1)
        >>> model(np.ones((1, 2))).sum().backward()
        >>> model.bias.grad
        tensor([1.])
        >>> model.zero_grad(); print(model.bias.grad)
        None
        """
        _zero_grads(self.parameters(), set_to_none)

    def register_parameter(self, name: str, value: ArrayLike | None) -> Tensor | None:
        """``setattr(self, name, parameter(value))`` (``None`` allowed, as PyTorch); returns the parameter.

        >>> import chainrule as cr
        >>> model = cr.nn.Linear(2, 1)
        >>> model.register_parameter("scale", 1.0)
        tensor(1., requires_grad=True)
        >>> [path for path, _ in model.named_parameters()]
        ['weight', 'bias', 'scale']
        """
        value = None if value is None else value if _is_parameter(value) else parameter(value)
        setattr(self, name, value)
        return value

    def add_module(self, name: str, module: Module | None) -> None:
        """``setattr(self, name, module)``, checking that ``module`` is a ``Module`` (or ``None``).

        >>> import chainrule as cr
        >>> model = cr.nn.Module()
        >>> model.add_module("act", cr.nn.Tanh())
        >>> model.children()
        [Tanh()]
        """
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}.add_module: {name!r} must be a cr.nn.Module, "
                            f"got {type(module).__name__}")
        setattr(self, name, module)

    def train(self, mode: bool = True) -> Self:
        """Set training mode (``self.training``) here and in every submodule; returns ``self``.

        >>> import chainrule as cr
        >>> model = cr.nn.Sequential(cr.nn.Linear(2, 2), cr.nn.Dropout(0.5))
        >>> model.train().training, model.eval().training, model[1].training
        (True, False, False)
        """
        for m in self.modules():
            m.training = bool(mode)
        return self

    def eval(self) -> Self:
        """``train(False)``.

        >>> import chainrule as cr
        >>> cr.nn.Dropout(0.5).eval().training     # dropout off: the identity
        False
        """
        return self.train(False)

    # -- state ----------------------------------------------------------------------------
    def params(self) -> dict[str, np.ndarray[Any, Any]]:
        """The parameter values as a dict ``{path: array}`` (copies): a pytree for ``apply``.

        >>> import chainrule as cr
        >>> import chainrule.numpy as cnp
        >>> model = cr.nn.Linear(2, 1)
        >>> p = model.params()
        >>> sorted(p), p["weight"].shape
        (['bias', 'weight'], (2, 1))
        >>> g = cr.grad(lambda p: cnp.sum(model.apply(p, cnp.ones((1, 2)))))(p)  # a dict by path, too
        >>> g["bias"]
        array([1.])
        """
        return {path: np.array(t._value, copy=True) for path, t in self.named_parameters()}

    def state_dict(self) -> dict[str, np.ndarray[Any, Any]]:
        """``{path: array}``, copies of the parameter values (what ``save`` writes).

        >>> import chainrule as cr
        >>> {k: v.shape for k, v in cr.nn.Linear(2, 1).state_dict().items()}
        {'weight': (2, 1), 'bias': (1,)}
        """
        return self.params()

    def load_state_dict(self, state: Mapping[str, ArrayLike], strict: bool = True) -> Self:
        """Copy the values of ``state`` (``{path: array}``) into the parameters.

        Every key and shape is checked before anything is written, so on an error
        the model is unchanged.  ``strict=False`` allows missing and unexpected keys
        (the shapes of the keys present are still checked).

        >>> import numpy as np, chainrule as cr
        >>> model = cr.nn.Linear(2, 1)
        >>> model.load_state_dict({"weight": np.ones((2, 1)), "bias": np.zeros(1)})
        Linear(in_features=2, out_features=1, bias=True)
        >>> model(np.array([[1.0, 2.0]]))
        tensor([[3.]], grad_fn=<add>)
        >>> _ = model.load_state_dict({"bias": [0.5]}, strict=False)   # only the bias
        >>> model.bias
        tensor([0.5], requires_grad=True)
        """
        own = dict(self.named_parameters())
        name = type(self).__name__
        if any(type(v).__module__.split(".")[0] == "torch" for v in state.values()):
            raise TypeError(f"load_state_dict({name}): the state holds torch tensors -- a PyTorch "
                            f"state_dict, which is refused: torch's Linear stores weight as (out, in), "
                            f"the transpose of chainrule's (in, out), and its layers are named "
                            f"differently (nn.Sequential's '0.weight' is chainrule's 'layers.0.weight'). "
                            f"Convert it explicitly, e.g. {{ours: theirs.detach().numpy().T for a "
                            f"weight, .numpy() for a bias}}, for the keys {list(own)}; nothing was loaded")
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing keys {missing}")
            if unexpected:
                parts.append(f"unexpected keys {unexpected}")
            raise KeyError(f"load_state_dict({name}): {' and '.join(parts)}; the model has parameters "
                           f"{list(own)} (pass strict=False to load only the keys present in both)")
        values = {}
        for k, t in own.items():
            if k not in state:
                continue
            v = state[k]
            v = v.detach().numpy() if type(v) is Tensor else np.asarray(v)
            if v.shape != t.shape:
                raise shape_error(name, k, t.shape, v.shape)
            if not (np.issubdtype(v.dtype, np.floating) or np.issubdtype(v.dtype, np.integer)):
                raise TypeError(f"load_state_dict({name}): parameter {k!r} has dtype {v.dtype} in the "
                                f"state; a float array is needed; nothing was loaded")
            values[k] = v
        with no_grad():
            for k, v in values.items():
                _write(own[k], v.astype(own[k].dtype, copy=False), "load_state_dict")
        return self

    # -- functional use -----------------------------------------------------------------------
    def apply(self, params: Mapping[str, Any], *args: Any, **kwargs: Any) -> Any:
        """``forward(*args)`` with the parameters taken from ``params``, a dict ``{path: array}``.

        ``params`` must hold exactly the paths of ``named_parameters()``, with their
        shapes; its values may be arrays, or the tracers of ``cr.grad``,
        ``cr.vmap`` and the other transforms, so that

            cr.grad(lambda p: F.mse_loss(model.apply(p, x), y))(model.params())

        gives the gradient as a dict by path.  The module's own parameters are
        untouched.

        >>> import numpy as np, chainrule as cr
        >>> model = cr.nn.Linear(2, 1)
        >>> model.apply({"weight": np.ones((2, 1)), "bias": np.zeros(1)}, np.array([[1.0, 2.0]]))
        array([[3.]])
        >>> x = np.array([[1.0, 2.0]])
        >>> cr.grad(lambda p: model.apply(p, x).sum())(model.params())["weight"]   # d(xW + b)/dW = x^T
        array([[1.],
               [2.]])
        """
        slots = self._slots()
        if type(params) is not dict:
            raise TypeError(f"{type(self).__name__}.apply: params must be a dict {{path: array}} "
                            f"(e.g. model.params()), got {type(params).__name__}")
        if len(params) != len({p for p, _, _ in slots}) or any(p not in params for p, _, _ in slots):
            self._key_error(params, slots)
        saved = []
        try:
            for path, container, key in slots:
                old = container[key]
                new = params[path]
                if (new.shape if hasattr(new, "shape") else np.shape(new)) != old.shape:
                    raise ValueError(f"{type(self).__name__}.apply: params[{path!r}] has shape "
                                     f"{np.shape(new) if not hasattr(new, 'shape') else new.shape}, "
                                     f"but the parameter has shape {old.shape}")
                if type(container) is tuple:
                    raise TypeError(f"{type(self).__name__}.apply: parameter {path!r} is held in a "
                                    f"tuple, which cannot be swapped; hold it in a list")
                container[key] = new
                saved.append((container, key, old))
            return self(*args, **kwargs)
        finally:
            for container, key, old in reversed(saved):
                container[key] = old

    def _key_error(self, params, slots):
        paths = list(dict.fromkeys(p for p, _, _ in slots))
        missing = [p for p in paths if p not in params]
        unexpected = [k for k in params if k not in paths]
        raise KeyError(f"{type(self).__name__}.apply: params must have exactly the keys {paths}; "
                       f"missing {missing}, unexpected {unexpected}")

    def extra_repr(self) -> str:
        """What ``repr`` shows inside the parentheses, besides the submodules (override it).

        >>> import chainrule as cr
        >>> cr.nn.Linear(2, 1).extra_repr()
        'in_features=2, out_features=1, bias=True'
        """
        return ""

    def __repr__(self):
        """Like PyTorch's: ``Name(extra)``, or one line per direct submodule, indented.

        A module met again inside itself (a back reference) is shown as ``Name(...)``.
        """
        if id(self) in _IN_REPR:
            return f"{type(self).__name__}(...)"
        _IN_REPR.add(id(self))
        try:
            children = self._named_children()
            extra = self.extra_repr()
            if not children:
                if not extra and type(self).extra_repr is Module.extra_repr and self.parameters():
                    extra = f"{self.num_parameters()} parameters"
                return f"{type(self).__name__}({extra})"
            lines = [extra] if extra else []
            for name, child in children:
                inner = repr(child).replace("\n", "\n  ")
                lines.append(f"({name}): {inner}")
            return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"
        finally:
            _IN_REPR.discard(id(self))


def shape_error(name, key, model_shape, state_shape, extra=""):
    """The ``ValueError`` for a parameter whose shape in a state differs from the model's."""
    hint = ("chainrule's Linear stores weight as (in, out), the transpose of PyTorch's (out, in): "
            "transpose weights taken from torch" if len(state_shape) == 2 and tuple(state_shape)[::-1] == model_shape
            else "was the state saved from a model of other sizes?")
    return ValueError(f"load_state_dict({name}): parameter {key!r} has shape {model_shape} in the "
                      f"model but {state_shape} in the state; nothing was loaded ({hint}){extra}")
