"""What runs when the user builds an instance: the class's ``__init__``, then checks.

The decorator installs an ``__init__`` generated like ``dataclasses``'s own,
with *the same signature* as the ``__init__`` it replaces, so
``inspect.signature``, beartype, jaxtyping and type checkers see the real
parameters. Its body, in one frame:

1. the construction itself: for a dataclass-generated ``__init__``, the same
   stores ``dataclasses`` would make (so converters apply to the arguments,
   and ``__post_init__`` sees converted values), then ``__post_init__``; for
   a user-written ``__init__``, a call to it, unchanged;
2. at the outermost class only (``super().__init__`` calls skip it): the
   remaining converters, then a check that ``__dict__`` holds exactly the
   fields (a missing field, or an attribute that the first rebuild would
   drop, raises) and that static values are hashable.

Python's own call binds the arguments, so no ``inspect`` runs per call (it
cost 80 % of a construction with converters before). JAX's rebuilds never
come here (see ``_rebuild.py``).
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
from collections.abc import Callable
from typing import Any

from ._registry import ClassSpec

_Parameter = inspect.Parameter
_STARS: dict[Any, str] = {_Parameter.VAR_POSITIONAL: "*", _Parameter.VAR_KEYWORD: "**"}


class _Source:
    """Lines of generated code, and the objects they refer to by name."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {}

    def name(self, prefix: str, value: Any) -> str:
        name = f"_ptc_{prefix}_{len(self.names)}"
        self.names[name] = value
        return name


def make_init(
    spec: ClassSpec,
    replaced: Callable[..., None],
    early_converters: dict[str, Callable[[Any], Any]],
) -> Callable[..., None]:
    """The ``__init__`` described in the module docstring.

    ``replaced`` is the class's current ``__init__``; ``early_converters``
    is empty unless ``spec.init_is_generated``.
    """
    parameters = list(inspect.signature(replaced).parameters.values())
    self_name = parameters[0].name
    source = _Source()
    if spec.init_is_generated:
        sets_exactly_the_fields = _generated_body(source, spec, parameters, early_converters)
    else:
        call = ", ".join(_forwarded(p) for p in parameters)
        source.lines.append(f"{source.name('init', replaced)}({call})")
        sets_exactly_the_fields = False
    _finish_lines(source, spec, self_name, check_attributes=not sets_exactly_the_fields)
    header = _header(parameters, source)
    body = "".join(f"        {line}\n" for line in source.lines)
    # As in ``dataclasses``: the function is made inside a factory whose
    # parameters are the helpers, with the class's module as globals, so that
    # string annotations resolve there and nothing is added to that module.
    text = (
        f"def _ptc_factory({', '.join(source.names)}):\n"
        f"    def __init__({header}):\n{body}"
        f"    return __init__\n"
    )
    module = sys.modules.get(spec.cls.__module__)
    scope: dict[str, Any] = {}
    exec(text, module.__dict__ if module else {}, scope)
    init = scope["_ptc_factory"](**source.names)
    init.__qualname__ = f"{spec.cls.__qualname__}.__init__"
    init.__module__ = spec.cls.__module__
    init.__doc__ = replaced.__doc__
    init.__annotations__ = _annotations(replaced, early_converters)
    return init


def _header(parameters: list[inspect.Parameter], source: _Source) -> str:
    header, previous = [], None
    for p in parameters:
        if previous == _Parameter.POSITIONAL_ONLY and p.kind != _Parameter.POSITIONAL_ONLY:
            header.append("/")
        if p.kind == _Parameter.KEYWORD_ONLY and previous not in (
            _Parameter.KEYWORD_ONLY,
            _Parameter.VAR_POSITIONAL,
        ):
            header.append("*")
        previous = p.kind
        text = _STARS.get(p.kind, "") + p.name
        if p.default is not _Parameter.empty:
            text += "=" + source.name("default", p.default)
        header.append(text)
    if previous == _Parameter.POSITIONAL_ONLY:
        header.append("/")
    return ", ".join(header)


def _forwarded(p: inspect.Parameter) -> str:
    if p.kind == _Parameter.KEYWORD_ONLY:
        return f"{p.name}={p.name}"
    return _STARS.get(p.kind, "") + p.name


def _generated_body(
    source: _Source,
    spec: ClassSpec,
    parameters: list[inspect.Parameter],
    converters: dict[str, Callable[[Any], Any]],
) -> bool:
    """The stores a dataclass-generated ``__init__`` makes, with converters inlined.

    Returns whether that provably sets exactly the fields (no ``__post_init__``
    and every field has a value), so that the attribute check can be skipped.
    """
    self_name = parameters[0].name
    defaults = {p.name: p.default for p in parameters}
    frozen = spec.cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    store = source.name("setattr", object.__setattr__) if frozen else None
    sets_every_field = True
    for f in dataclasses.fields(spec.cls):
        value = _field_value(source, f, defaults, converters)
        if value is None:
            sets_every_field = False  # init=False without default: __post_init__ sets it
            continue
        if store:
            source.lines.append(f"{store}({self_name}, {f.name!r}, {value})")
        else:
            source.lines.append(f"{self_name}.{f.name} = {value}")
    if hasattr(spec.cls, "__post_init__"):
        field_names = spec.field_names_set
        init_vars = [p.name for p in parameters[1:] if p.name not in field_names]
        source.lines.append(f"{self_name}.__post_init__({', '.join(init_vars)})")
        return False
    return sets_every_field


def _field_value(
    source: _Source,
    f: dataclasses.Field[Any],
    defaults: dict[str, Any],
    converters: dict[str, Callable[[Any], Any]],
) -> str | None:
    """The expression stored into field ``f``, as ``dataclasses`` would compute it."""
    has_factory = f.default_factory is not dataclasses.MISSING
    if not f.init:
        if has_factory:
            return source.name("factory", f.default_factory) + "()"
        if f.default is not dataclasses.MISSING:
            return source.name("default", f.default)
        return None
    value = f.name
    if f.name in converters:
        value = f"{source.name('convert', converters[f.name])}({f.name})"
    if has_factory:
        # The parameter's default is dataclasses' "<factory>" marker. ``field``
        # already wrapped the factory with the converter.
        marker = source.name("marker", defaults[f.name])
        factory = source.name("factory", f.default_factory)
        return f"({factory}() if {f.name} is {marker} else {value})"
    return value


def _finish_lines(
    source: _Source, spec: ClassSpec, self_name: str, *, check_attributes: bool
) -> None:
    """Step 2 of the module docstring, inlined for this class (each check costs
    about 0.1 µs, a quarter of a small frozen dataclass's construction)."""
    lines = [f"_ptc_d = {self_name}.__dict__"]
    for name, convert in spec.late_converters.items():
        lines += [
            f"if {name!r} in _ptc_d:",
            f"    _ptc_d[{name!r}] = {source.name('convert', convert)}(_ptc_d[{name!r}])",
        ]
    if check_attributes:
        check = source.name("check", lambda obj: _check_attributes(spec, obj))
        lines += [
            f"if _ptc_d.keys() != {source.name('fields', spec.field_names_set)}:",
            f"    {check}({self_name})",
        ]
    if spec.static_names:
        statics = "".join(f"_ptc_d[{name!r}], " for name in spec.static_names)
        unhashable = source.name("unhashable", lambda obj: check_static_hashable(spec, obj))
        lines += [
            "try:",
            f"    hash(({statics}))",
            "except TypeError:",
            f"    {unhashable}({self_name})",
            "    raise",
        ]
    if len(lines) > 1:
        source.lines.append(f"if type({self_name}) is {source.name('cls', spec.cls)}:")
        source.lines += [f"    {line}" for line in lines]


def _annotations(replaced: Callable, converters: dict[str, Callable]) -> dict[str, Any]:
    """The replaced ``__init__``'s annotations; a converted parameter takes its
    converter's input annotation, or none (it accepts what the converter accepts)."""
    annotations = dict(getattr(replaced, "__annotations__", {}))
    for name, convert in converters.items():
        annotations.pop(name, None)
        try:
            first = next(iter(inspect.signature(convert).parameters.values()))
        except (TypeError, ValueError, StopIteration):
            continue
        if first.annotation is not _Parameter.empty:
            annotations[name] = first.annotation
    return annotations


def _check_attributes(spec: ClassSpec, obj: Any) -> None:
    cls = spec.cls.__qualname__
    missing = [name for name in spec.field_names if name not in obj.__dict__]
    if missing:
        names = ", ".join(repr(name) for name in missing)
        raise ValueError(
            f"{cls}.__init__ did not set the field(s) {names}. Assign every field in "
            f"__init__ or __post_init__ (with object.__setattr__ on a frozen class), "
            f"or give it a default."
        )
    extra = [n for n in obj.__dict__ if n not in spec.field_names_set and n not in spec.cache_names]
    if extra:
        name = extra[0]
        raise AttributeError(
            f"{cls}.__init__ set the attribute {name!r}, which is not a field, so JAX "
            f"would drop it at the first rebuild (under jit, grad, vmap or tree_map). "
            f"Declare it as a field: `{name}: ... = pytreeclass.field(init=False)`, and "
            f"set it in __post_init__."
        )


def check_static_hashable(spec: ClassSpec, obj: Any) -> None:
    """Raise a ``TypeError`` naming the field if a static value is unhashable."""
    for name in spec.static_names:
        value = obj.__dict__[name]
        try:
            hash(value)
        except TypeError:
            raise TypeError(
                f"{spec.cls.__qualname__}.{name} is a static field, so its value must "
                f"be hashable (JAX keys compiled code on it), but got an unhashable "
                f"{type(value).__name__}. Use a hashable value (a tuple instead of a "
                f"list, a frozenset instead of a set), or, for arrays, make the field "
                f"non-static by dropping static=True."
            ) from None
