"""Sweeps: seeds × configurations expanded into runs with stable identifiers.

A run is one (experiment, protocol, configuration, seed). Its identifier is

    <experiment>-<first 16 hex digits of sha256(canonical JSON of the four)>

where the canonical JSON is ``json.dumps`` with sorted keys, no spaces and ASCII only, of
``{"config": ..., "experiment": ..., "protocol": ..., "seed": ...}``. It depends on nothing but
those values (not on dict order, the Python version, ``PYTHONHASHSEED`` or the process), so a
sweep started again finds the runs it already finished by name.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from neuroplast.errors import NeuroplastError

RUN_ID_HASH_LENGTH = 16
"""Hex digits of sha256 kept in a run id (64 bits: collisions are negligible)."""

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def canonical_json(value: Any) -> str:
    """The one JSON text of ``value``: sorted keys, no whitespace, ASCII, no NaN.

    Raises:
        NeuroplastError: ``value`` is not made of dicts with string keys, lists, strings,
            finite numbers, booleans and None.
    """
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                          allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise NeuroplastError(
            f"a run configuration must be plain JSON (dicts with string keys, lists, strings, "
            f"finite numbers, booleans, None): {exc}"
        ) from None


def _normalised_config(config: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(config, Mapping):
        raise NeuroplastError(f"a run configuration must be a dict, got {type(config).__name__}")
    if any(not isinstance(key, str) for key in _all_keys(config)):
        raise NeuroplastError(f"configuration keys must be strings, got {dict(config)!r}")
    return json.loads(canonical_json(dict(config)))  # sorted, tuples become lists


def _all_keys(value: Any) -> Iterable[Any]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield key
            yield from _all_keys(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _all_keys(item)


@dataclass(frozen=True, eq=False)
class RunSpec:
    """One run of a sweep.

    Attributes:
        experiment: registered experiment name (lower case, digits, ``-``, ``_``, ``.``).
        config: the configuration, plain JSON; stored with sorted keys (tuples become lists).
        seed: the run's seed (a non-negative int).
        protocol: training protocol name (``paper``, ``fast``, ``quick``).
    """

    experiment: str
    config: dict[str, Any]
    seed: int
    protocol: str

    def __post_init__(self) -> None:
        if not isinstance(self.experiment, str) or not _NAME.match(self.experiment):
            raise NeuroplastError(
                f"experiment name {self.experiment!r} must be lower-case letters, digits, "
                "'-', '_' or '.', starting with a letter or digit"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise NeuroplastError(f"a seed must be a non-negative integer, got {self.seed!r}")
        if not isinstance(self.protocol, str) or not self.protocol:
            raise NeuroplastError(f"a protocol name must be a string, got {self.protocol!r}")
        object.__setattr__(self, "config", _normalised_config(self.config))

    def key(self) -> dict[str, Any]:
        """The four values the run id is computed from."""
        return {"experiment": self.experiment, "protocol": self.protocol,
                "config": self.config, "seed": self.seed}

    @property
    def run_id(self) -> str:
        """``<experiment>-<16 hex digits of sha256(canonical JSON of key())>``."""
        digest = hashlib.sha256(canonical_json(self.key()).encode("ascii")).hexdigest()
        return f"{self.experiment}-{digest[:RUN_ID_HASH_LENGTH]}"

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the inverse of :meth:`from_dict`)."""
        return self.key()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunSpec:
        return cls(experiment=data["experiment"], config=data["config"], seed=data["seed"],
                   protocol=data["protocol"])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RunSpec):
            return NotImplemented
        return canonical_json(self.key()) == canonical_json(other.key())

    def __hash__(self) -> int:
        return hash(self.run_id)

    def describe(self) -> str:
        """One line for messages: run id, seed and configuration."""
        return f"{self.run_id} (seed {self.seed}, config {canonical_json(self.config)})"


def seed_list(seeds: int | Sequence[int]) -> list[int]:
    """``N`` means seeds ``0 … N−1``; a sequence is taken as given."""
    if isinstance(seeds, bool):
        raise NeuroplastError(f"seeds must be a count or a list of integers, got {seeds!r}")
    if isinstance(seeds, int):
        if seeds < 1:
            raise NeuroplastError(f"--seeds must be at least 1, got {seeds}")
        return list(range(seeds))
    return [int(seed) for seed in seeds]


def expand(experiment: str, configs: Sequence[Mapping[str, Any]], seeds: int | Sequence[int],
           protocol: str) -> list[RunSpec]:
    """Every (configuration, seed) pair as a :class:`RunSpec`, configurations outermost.

    Args:
        experiment: experiment name.
        configs: the configurations (plain JSON dicts).
        seeds: a count ``N`` (seeds ``0 … N−1``) or an explicit list.
        protocol: protocol name.

    Raises:
        NeuroplastError: no configuration, or two runs that would be the same run.
    """
    if not configs:
        raise NeuroplastError(f"experiment {experiment!r} produced no configurations")
    specs = [RunSpec(experiment, dict(config), seed, protocol)
             for config in configs for seed in seed_list(seeds)]
    seen: dict[str, RunSpec] = {}
    for spec in specs:
        if spec.run_id in seen:
            raise NeuroplastError(f"duplicate run in the sweep: {spec.describe()}; make every "
                                  "configuration and seed distinct")
        seen[spec.run_id] = spec
    return specs
