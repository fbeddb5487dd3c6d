"""The results store: one JSON file per finished run, written atomically.

Layout of a store directory (one per experiment, ``OUT/<experiment>/``)::

    runs/<run_id>.json        one finished run: its RunSpec, result and provenance
    runs/.<run_id>.*.tmp      a write in progress (or left by a killed process): never read
    runs/corrupt/             files that could not be read back, moved aside (the run is redone)

A record is written to a temporary file in ``runs/``, flushed and fsync'ed, then renamed over
its final name with ``os.replace`` (atomic on POSIX and Windows) and the directory is fsync'ed.
So at any moment ``runs/<run_id>.json`` is either absent or complete: a process killed with
``kill -9`` mid-write leaves at most a temporary file, which readers ignore. A final file that
still does not parse (disk full, a manual edit, a copy that went wrong) is moved to
``runs/corrupt/`` with a warning and its run counts as not done.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

from neuroplast.experiments.sweep import RunSpec
from neuroplast.files import atomic_write_text

__all__ = ["RECORD_FORMAT", "CorruptRecordWarning", "ResultStore", "atomic_write_text"]

RECORD_FORMAT = 1
"""Version of the record layout written by :meth:`ResultStore.write`."""


class CorruptRecordWarning(UserWarning):
    """A stored run could not be read back and was moved aside; the run will be redone."""


class ResultStore:
    """Finished runs of one experiment, one JSON file each.

    Args:
        directory: the experiment's output directory; records go to ``directory/runs``.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.runs_dir = self.directory / "runs"
        self.corrupt_dir = self.runs_dir / "corrupt"
        self.runs_dir.mkdir(parents=True, exist_ok=True)

    def path(self, run_id: str) -> Path:
        return self.runs_dir / f"{run_id}.json"

    def write(self, record: dict[str, Any]) -> Path:
        """Store one finished run atomically (see the module docstring).

        Args:
            record: ``{"run_id", "spec", "result", "provenance"}`` as made by
                :func:`neuroplast.experiments.worker.run_one`; ``run_id`` must be the spec's.

        Returns:
            The path of the record file.
        """
        _check_record(record, record.get("run_id", "?"))
        record = {"format": RECORD_FORMAT} | record
        path = self.path(record["run_id"])
        atomic_write_text(path, json.dumps(record, indent=1, sort_keys=True) + "\n")
        return path

    def scan(self) -> dict[str, dict[str, Any]]:
        """Every readable record, by run id; unreadable ones are moved to ``runs/corrupt/``."""
        records = {}
        for path in sorted(self.runs_dir.glob("*.json")):
            if path.name.startswith("."):
                continue  # a temporary file (never matches, kept for clarity)
            record = self._read(path)
            if record is not None:
                records[record["run_id"]] = record
        return records

    def done_ids(self) -> set[str]:
        """Run ids with a complete, readable record."""
        return set(self.scan())

    def load(self, run_id: str) -> dict[str, Any]:
        """The record of ``run_id``.

        Raises:
            KeyError: no readable record (a corrupt one is moved aside first).
        """
        path = self.path(run_id)
        record = self._read(path) if path.is_file() else None
        if record is None:
            raise KeyError(f"no finished run {run_id!r} in {self.runs_dir}")
        return record

    def load_all(self, experiment: str | None = None) -> list[dict[str, Any]]:
        """Every readable record (of ``experiment`` if given), sorted by run id."""
        return [record for _, record in sorted(self.scan().items())
                if experiment is None or record["spec"]["experiment"] == experiment]

    def _read(self, path: Path) -> dict[str, Any] | None:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            _check_record(record, path.stem)
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            self._quarantine(path, exc)
            return None
        return record

    def _quarantine(self, path: Path, reason: Exception) -> None:
        self.corrupt_dir.mkdir(exist_ok=True)
        target = self.corrupt_dir / path.name
        counter = 1
        while target.exists():
            target = self.corrupt_dir / f"{path.stem}.{counter}{path.suffix}"
            counter += 1
        try:
            os.replace(path, target)
        except FileNotFoundError:
            return  # another reader moved it already
        warnings.warn(
            f"{path} could not be read back ({type(reason).__name__}: {reason}); moved it to "
            f"{target} — the run will be redone",
            CorruptRecordWarning, stacklevel=3,
        )


def _check_record(record: Any, expected_id: str) -> None:
    """Raise ValueError unless ``record`` is a complete record of run ``expected_id``."""
    if not isinstance(record, dict):
        raise ValueError(f"a record must be a JSON object, got {type(record).__name__}")
    missing = {"run_id", "spec", "result", "provenance"} - set(record)
    if missing:
        raise ValueError(f"record lacks {sorted(missing)}")
    if not isinstance(record["result"], dict):
        raise ValueError("the record's result is not a JSON object")
    spec_id = RunSpec.from_dict(record["spec"]).run_id
    if record["run_id"] != spec_id or spec_id != expected_id:
        raise ValueError(f"run id mismatch: file {expected_id!r}, record {record['run_id']!r}, "
                         f"spec {spec_id!r}")
