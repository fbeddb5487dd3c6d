"""Schemas of stored run records: what a record must hold for the reports to read it.

A record that parses but holds a bad result (``"result": {}``, ``"train_accuracy": "abc"``)
would otherwise stop every later report with a ``KeyError``. The store checks each record
against the envelope schema (:data:`RECORD`) and its experiment's ``result_schema`` when it reads
it back, and sets a failing one aside with the reason, like an unparsable one.

A schema is written as plain Python: a dict is an object with (at least) those keys, a
one-element list is a list of such items, and the leaves are :data:`NUMBER`, :data:`INTEGER`,
:data:`TEXT`, :data:`BOOLEAN` and :data:`ANY`; :func:`nullable`, :func:`map_of` and
:func:`any_of` cover ``None``, objects keyed by names and alternatives. Objects may hold more
keys than the schema lists (records stay readable when a newer version adds fields).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from neuroplast.errors import NeuroplastError


class SchemaError(NeuroplastError):
    """A value does not have the shape its schema describes; the message says where."""


class Schema:
    """A node of a schema: :meth:`check` raises :class:`SchemaError` or returns."""

    def check(self, value: Any, where: str) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


_EXPECTED = {"number": "a number", "integer": "an integer", "text": "a string",
             "boolean": "true or false", "any": "anything"}


@dataclass(frozen=True)
class _Leaf(Schema):
    """A JSON scalar: ``kind`` is number, integer, text, boolean or any."""

    kind: str

    def check(self, value: Any, where: str) -> None:
        is_bool = isinstance(value, bool)
        ok = {
            "number": not is_bool and isinstance(value, int | float),
            "integer": not is_bool and (isinstance(value, int) or (
                isinstance(value, float) and math.isfinite(value) and value.is_integer())),
            "text": isinstance(value, str),
            "boolean": is_bool,
            "any": True,
        }[self.kind]
        if not ok:
            raise SchemaError(f"{where} is {_show(value)}, not {_EXPECTED[self.kind]}")


NUMBER = _Leaf("number")
"""An int or a float (NaN and infinities included: stored results may hold them)."""
INTEGER = _Leaf("integer")
"""An int (or a float with an integral value, as JSON may give back)."""
TEXT = _Leaf("text")
BOOLEAN = _Leaf("boolean")
ANY = _Leaf("any")


@dataclass(frozen=True)
class _Nullable(Schema):
    inner: Schema

    def check(self, value: Any, where: str) -> None:
        if value is not None:
            self.inner.check(value, where)


@dataclass(frozen=True)
class _ListOf(Schema):
    item: Schema

    def check(self, value: Any, where: str) -> None:
        if not isinstance(value, list):
            raise SchemaError(f"{where} is {_show(value)}, not a list")
        for index, item in enumerate(value):
            self.item.check(item, f"{where}[{index}]")


@dataclass(frozen=True)
class _Fields(Schema):
    fields: tuple[tuple[str, Schema], ...]

    def check(self, value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise SchemaError(f"{where} is {_show(value)}, not an object")
        missing = [key for key, _ in self.fields if key not in value]
        if missing:
            raise SchemaError(f"{where} lacks {', '.join(repr(k) for k in missing)}")
        for key, schema in self.fields:
            schema.check(value[key], f"{where}[{key!r}]")


@dataclass(frozen=True)
class _MapOf(Schema):
    value: Schema

    def check(self, value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise SchemaError(f"{where} is {_show(value)}, not an object")
        for key, item in value.items():
            self.value.check(item, f"{where}[{key!r}]")


@dataclass(frozen=True)
class _AnyOf(Schema):
    options: tuple[Schema, ...]

    def check(self, value: Any, where: str) -> None:
        errors = []
        for option in self.options:
            try:
                option.check(value, where)
            except SchemaError as exc:
                errors.append(str(exc))
            else:
                return
        raise SchemaError(" or ".join(errors))


def as_schema(spec: Any) -> Schema:
    """The schema written as ``spec`` (a Schema, a dict of fields or a one-element list)."""
    if isinstance(spec, Schema):
        return spec
    if isinstance(spec, Mapping):
        return _Fields(tuple((str(k), as_schema(v)) for k, v in spec.items()))
    if isinstance(spec, Sequence) and not isinstance(spec, str) and len(spec) == 1:
        return _ListOf(as_schema(spec[0]))
    raise TypeError(f"not a schema: {spec!r}")


def nullable(spec: Any) -> Schema:
    """``spec`` or ``None``."""
    return _Nullable(as_schema(spec))


def list_of(spec: Any) -> Schema:
    """A list whose every item is ``spec``."""
    return _ListOf(as_schema(spec))


def map_of(spec: Any) -> Schema:
    """An object whose keys are names (any) and whose every value is ``spec``."""
    return _MapOf(as_schema(spec))


def any_of(*specs: Any) -> Schema:
    """A value matching at least one of ``specs``."""
    return _AnyOf(tuple(as_schema(s) for s in specs))


def validate(value: Any, spec: Any, where: str = "result") -> None:
    """Check ``value`` against the schema ``spec``.

    Raises:
        SchemaError: the first place where ``value`` does not fit, e.g.
            ``result['train_accuracy'] is 'abc', not a number``.
    """
    as_schema(spec).check(value, where)


RECORD = as_schema({
    "run_id": TEXT,
    "spec": {"experiment": TEXT, "config": map_of(ANY), "seed": INTEGER, "protocol": TEXT},
    "result": map_of(ANY),
    "provenance": {
        "protocol": {"protocol": TEXT},
        "wall_s": NUMBER,
        "neuroplast": TEXT, "torch": TEXT, "python": TEXT, "platform": TEXT,
    },
})
"""Every stored record: what :func:`neuroplast.experiments.report.header` and the store read."""
