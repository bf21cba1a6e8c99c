"""``no_grad`` and ``enable_grad``: per-thread switches for recording."""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Callable, Literal, TypeVar

from chainrule._core.primitive import grad_state, last_level

__all__ = ["no_grad", "enable_grad", "is_grad_enabled"]

if TYPE_CHECKING:
    from typing_extensions import Self

F = TypeVar("F", bound=Callable[..., Any])


class _GradMode:
    __slots__ = ("_saved",)
    _frozen: int | None = None  # what the context sets grad_state.frozen to; None means "all current levels"

    def __new__(cls, func: Callable[..., Any] | None = None) -> Any:
        self = super().__new__(cls)
        return self(func) if func is not None else self  # bare @no_grad decorates too

    def __enter__(self) -> Self:
        self._saved = grad_state.frozen
        grad_state.frozen = last_level() if self._frozen is None else self._frozen
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        grad_state.frozen = self._saved
        return False

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)
        return wrapped  # type: ignore[return-value]  # functools.wraps keeps fn's signature


class no_grad(_GradMode):
    """Record nothing: inside, operations on Tensors build no graph.

    It freezes the tape and every transform already active; a transform
    started inside still differentiates.  Per thread; also a decorator.

    >>> import chainrule as cr
    >>> x = cr.tensor(2.0, requires_grad=True)
    >>> with cr.no_grad():
    ...     y = x * 3
    >>> y.requires_grad
    False
    """

    __slots__ = ()


class enable_grad(_GradMode):
    """Record again inside a ``no_grad`` block (per thread; also a decorator).

    >>> import chainrule as cr
    >>> x = cr.tensor(2.0, requires_grad=True)
    >>> with cr.no_grad():
    ...     with cr.enable_grad():
    ...         y = x * 3
    >>> y.requires_grad
    True
    """

    __slots__ = ()
    _frozen = -1


def is_grad_enabled() -> bool:
    """Whether operations on tape Tensors record (in this thread).

    >>> import chainrule as cr
    >>> cr.is_grad_enabled()
    True
    >>> with cr.no_grad():
    ...     cr.is_grad_enabled()
    False
    """
    return grad_state.frozen < 0
