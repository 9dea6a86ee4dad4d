"""What runs when the user builds an instance: the class's ``__init__``, then checks.

The decorator installs an ``__init__`` generated like ``dataclasses``'s own,
with *the same signature* as the ``__init__`` it replaces, so
``inspect.signature``, beartype, jaxtyping and type checkers see the real
parameters. Its body, in one frame:

1. the construction itself: for a dataclass-generated ``__init__``, the same
   stores ``dataclasses`` would make (so converters apply to the arguments,
   and ``__post_init__`` sees converted values), then ``__post_init__``; for
   a user-written or inherited ``__init__``, a call to it, unchanged. While it
   runs, a frozen instance is marked in ``UNDER_CONSTRUCTION``, so that
   ``self.x = value`` sets a field (Equinox's semantics; see
   ``_checks.frozen_setattr``);
2. at the outermost class only (``super().__init__`` calls stop after step
   1): the remaining converters (each field's converter runs once per
   construction), then a check that ``__dict__`` holds exactly the fields (a
   missing field, or an attribute that the first rebuild would drop, raises)
   and that static values are hashable; then, the instance now frozen, every
   ``__check_init__`` of the MRO.

Python's own call binds the arguments, so no ``inspect`` runs per call (it
cost 80 % of a construction with converters before). Each step is emitted
only where the class needs it: a plain class's ``__init__`` is its stores.
The code has a filename and a ``linecache`` entry, so tracebacks and pdb show
it. JAX's rebuilds never come here (see ``_rebuild.py``).
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import linecache
import re
import sys
from collections.abc import Callable
from typing import Any

from ._checks import UNDER_CONSTRUCTION, check_fields_set, check_static_hashable
from ._registry import SPEC_ATTRIBUTE, ClassSpec

_Parameter = inspect.Parameter
_STARS: dict[Any, str] = {_Parameter.VAR_POSITIONAL: "*", _Parameter.VAR_KEYWORD: "**"}

#: The ``__dict__`` key under which a base's generated ``__init__``, reached
#: through ``super().__init__``, lists the converters it ran, so that the
#: outermost class runs each converter once. No attribute can have this name.
_CONVERTED = "<pytreeclass: converted>"
_GENERATED = itertools.count(1)


class _Source:
    """Lines of generated code, and the objects they refer to by name.

    Every name the code introduces (helpers, locals) avoids ``reserved``, the
    parameters and fields: a field may be called ``type``, ``hash``, ``cls`` or
    ``_ptc_d``, and must not shadow what the code uses.
    """

    def __init__(self, reserved: set[str]) -> None:
        self.names: dict[str, Any] = {}
        self.reserved = reserved

    def name(self, prefix: str, value: Any) -> str:
        """A helper the code refers to: bound once, as a parameter of the factory."""
        for name, known in self.names.items():
            if known is value and name.startswith(f"_ptc_{prefix}"):
                return name
        name = self.local(prefix)
        self.names[name] = value
        return name

    def local(self, prefix: str) -> str:
        name = f"_ptc_{prefix}"
        while name in self.reserved:
            name += "_"
        self.reserved.add(name)
        return name


def make_init(
    spec: ClassSpec,
    replaced: Callable[..., None],
    early_converters: dict[str, Callable[[Any], Any]],
) -> Callable[..., None]:
    """The ``__init__`` described in the module docstring.

    ``replaced`` is the class's current ``__init__`` (its own, the one
    ``dataclasses`` generated, or the inherited one it keeps);
    ``early_converters`` is empty unless ``spec.init_is_generated``.
    """
    parameters = list(inspect.signature(replaced).parameters.values())
    source = _Source({p.name for p in parameters} | set(spec.field_names))
    if not parameters or parameters[0].kind not in (_POSITIONAL, _Parameter.POSITIONAL_ONLY):
        # ``(*args, **kwargs)``, e.g. a decorator without ``functools.wraps``:
        # name the instance ourselves, and pass it on first.
        parameters.insert(0, _Parameter(source.local("self"), _Parameter.POSITIONAL_ONLY))
    self_name = parameters[0].name
    static_values: dict[str, str] = {}
    if spec.init_is_generated:
        body, sets_exactly_the_fields = _generated_body(
            source, spec, parameters, early_converters, static_values
        )
    else:
        call = ", ".join(_forwarded(p) for p in parameters)
        body, sets_exactly_the_fields = [f"{source.name('init', replaced)}({call})"], False
    assigns = spec.frozen and not sets_exactly_the_fields
    converted = _converted_by_bases(spec)
    finish = _finish_lines(
        source,
        spec,
        self_name,
        converted,
        check_attributes=not sets_exactly_the_fields,
        static_values=static_values,
    )
    if not (finish or assigns or early_converters):
        lines = body or ["pass"]
    else:
        lines = _outermost_lines(
            source, spec, self_name, body, early_converters, assigns=assigns, opens=bool(converted)
        )
        lines += finish
    return _compiled(spec, replaced, early_converters, parameters, source, lines)


_POSITIONAL = _Parameter.POSITIONAL_OR_KEYWORD


def _converted_by_bases(spec: ClassSpec) -> frozenset[str]:
    """The late converters of a hand-written ``__init__`` that a base's generated
    ``__init__``, reached through ``super().__init__``, may already have run."""
    if spec.init_is_generated:
        return frozenset()
    bases = [b.__dict__.get(SPEC_ATTRIBUTE) for b in spec.cls.__mro__[1:]]
    early = frozenset().union(*(b.early_converters for b in bases if b is not None))
    return early & spec.late_converters.keys()


def _outermost_lines(
    source: _Source,
    spec: ClassSpec,
    self_name: str,
    body: list[str],
    early_converters: dict[str, Callable[[Any], Any]],
    *,
    assigns: bool,
    opens: bool,
) -> list[str]:
    """Step 1 of the module docstring, then the stop for ``super().__init__`` calls.

    ``assigns``: user code runs in a frozen class, so the outermost class marks
    the instance as under construction while it does (once: a re-entrant
    ``self.__init__`` leaves the mark to the outer call). ``opens``: the
    outermost class opens the record in which a base's generated ``__init__``
    lists the converters it ran.
    """
    is_outer = f"{source.name('type', type)}({self_name}) is {source.name('cls', spec.cls)}"
    stop = ["return"]
    if early_converters:
        record = source.local("record")
        ran = ", ".join(f"{n!r}: {source.name('convert', c)}" for n, c in early_converters.items())
        stop[:0] = [
            f"{record} = {self_name}.__dict__.get({_CONVERTED!r})",
            f"if {record} is not None:",
            f"    {record}.update({{{ran}}})",
        ]
    opening, closing = [], []
    if assigns:
        key, fresh = source.local("key"), source.local("fresh")
        opening += [
            f"{key} = {source.name('id', id)}({self_name})",
            f"{fresh} = {key} not in {source.name('under_construction', UNDER_CONSTRUCTION)}",
            f"if {fresh}:",
            f"    {source.name('add', UNDER_CONSTRUCTION.add)}({key})",
        ]
        closing += [
            f"if {fresh}:",
            f"    {source.name('discard', UNDER_CONSTRUCTION.discard)}({key})",
        ]
    if opens:
        opening.append(f"{self_name}.__dict__[{_CONVERTED!r}] = {{}}")
    if not opening:
        return [*body, f"if not {is_outer}:", *_indented(stop)]
    if closing:
        body_once = ["try:", *_indented(body or ["pass"]), "finally:", *_indented(closing)]
    else:
        body_once = body
    return [f"if {is_outer}:", *_indented(opening + body_once), "else:", *_indented(body + stop)]


def _indented(lines: list[str]) -> list[str]:
    return [f"    {line}" for line in lines]


def _compiled(
    spec: ClassSpec,
    replaced: Callable[..., None],
    early_converters: dict[str, Callable[[Any], Any]],
    parameters: list[inspect.Parameter],
    source: _Source,
    lines: list[str],
) -> Callable[..., None]:
    header = _header(parameters, source)
    body = "".join(f"        {line}\n" for line in lines)
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
    exec(_linecached(text, spec.cls), module.__dict__ if module else {}, scope)
    init = scope["_ptc_factory"](**source.names)
    init.__qualname__ = f"{spec.cls.__qualname__}.__init__"
    init.__module__ = spec.cls.__module__
    init.__doc__ = replaced.__doc__
    init.__annotations__ = _annotations(replaced, early_converters)
    return init


def _linecached(text: str, cls: type) -> Any:
    """``text`` compiled under a filename of its own, with a ``linecache`` entry
    (as attrs's ``_make.py`` does), so tracebacks and pdb show the generated code."""
    # Numbered, as classes of one name may be many (one per call of a factory).
    filename = f"<pytreeclass generated __init__ {cls.__module__}.{cls.__qualname__}"
    filename += f" #{next(_GENERATED)}>"
    # ``None`` as the modification time: ``linecache.checkcache`` keeps the entry.
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    return compile(text, filename, "exec")


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
    static_values: dict[str, str],
) -> tuple[list[str], bool]:
    """The stores a dataclass-generated ``__init__`` makes, with converters inlined.

    Also returns whether that provably sets exactly the fields (no
    ``__post_init__`` and every field has a value), so that the attribute check
    can be skipped; ``static_values`` receives the locals that hold the static
    fields' final values (none when ``__post_init__`` runs).
    """
    self_name = parameters[0].name
    defaults = {p.name: p.default for p in parameters}
    store = source.name("setattr", object.__setattr__) if spec.frozen else None
    lines, sets_every_field = [], True
    for f in dataclasses.fields(spec.cls):
        value = _field_value(source, f, defaults, converters)
        if value is None:
            sets_every_field = False  # init=False without default: __post_init__ sets it
            continue
        if f.name in spec.static_names and f.name not in spec.late_converters:
            # Kept in a local for the static-hash check, which then need not read
            # ``self.__dict__``: reading it materialises the instance dict, which
            # costs every later flatten about 15 ns per node (docs/benchmarks.md).
            local = static_values[f.name] = source.local(f"value_{f.name}")
            lines.append(f"{local} = {value}")
            value = local
        if store:
            lines.append(f"{store}({self_name}, {f.name!r}, {value})")
        else:
            lines.append(f"{self_name}.{f.name} = {value}")
    if hasattr(spec.cls, "__post_init__"):
        field_names = spec.field_names_set
        init_vars = [p.name for p in parameters[1:] if p.name not in field_names]
        lines.append(f"{self_name}.__post_init__({', '.join(init_vars)})")
        static_values.clear()  # ``__post_init__`` may store others
        return lines, False
    return lines, sets_every_field


def _field_value(
    source: _Source,
    f: dataclasses.Field[Any],
    defaults: dict[str, Any],
    converters: dict[str, Callable[[Any], Any]],
) -> str | None:
    """The expression stored into field ``f``, as ``dataclasses`` would compute it.

    An ``init=False`` field's converter runs after ``__init__`` (a late converter),
    so its default is stored as it is here.
    """
    has_factory = f.default_factory is not dataclasses.MISSING
    if not f.init:
        if has_factory:
            return source.name("factory", f.default_factory) + "()"
        if f.default is not dataclasses.MISSING:
            return source.name("default", f.default)
        return None
    value = f.name
    if has_factory:
        # The parameter's default is dataclasses' "<factory>" marker.
        marker = source.name("marker", defaults[f.name])
        factory = source.name("factory", f.default_factory)
        value = f"({factory}() if {f.name} is {marker} else {f.name})"
    if f.name in converters:
        value = f"{source.name('convert', converters[f.name])}({value})"
    return value


def _finish_lines(
    source: _Source,
    spec: ClassSpec,
    self_name: str,
    converted_by_bases: frozenset[str],
    *,
    check_attributes: bool,
    static_values: dict[str, str],
) -> list[str]:
    """Step 2 of the module docstring, inlined for this class (each check costs
    about 0.1 µs, a quarter of a small frozen dataclass's construction).

    A late converter that a base's generated ``__init__`` already ran on the
    field (the same converter: a subclass may redeclare the field with another)
    is skipped, so each runs once.
    """
    d = source.local("d")
    lines, ran = [], source.local("ran")
    if converted_by_bases:
        lines.append(f"{ran} = {d}.pop({_CONVERTED!r}, {{}})")
    for name, convert in spec.late_converters.items():
        converter = source.name("convert", convert)
        once = f" and {ran}.get({name!r}) is not {converter}" if name in converted_by_bases else ""
        lines += [
            f"if {name!r} in {d}{once}:",
            f"    {d}[{name!r}] = {converter}({d}[{name!r}])",
        ]
    if check_attributes:
        check = source.name("check", lambda obj: check_fields_set(spec, obj))
        lines += [
            f"if {d}.keys() != {source.name('fields', spec.field_names_set)}:",
            f"    {check}({self_name})",
        ]
    if spec.static_names:
        statics = "".join(
            f"{static_values.get(name, f'{d}[{name!r}]')}, " for name in spec.static_names
        )
        unhashable = source.name("unhashable", lambda obj: check_static_hashable(spec, obj))
        lines += [
            "try:",
            f"    {source.name('hash', hash)}(({statics}))",
            "except TypeError:",
            f"    {unhashable}({self_name})",
            "    raise",
        ]
    if any(re.search(rf"\b{d}\b", line) for line in lines):  # only where it is read
        lines.insert(0, f"{d} = {self_name}.__dict__")
    lines += [f"{source.name('check_init', c)}({self_name})" for c in spec.check_inits]
    return lines


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
