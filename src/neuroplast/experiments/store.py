"""The results store: one JSON file per finished run, written atomically.

Layout of a store directory (one per experiment, ``OUT/<experiment>/``)::

    runs/<run_id>.json        one finished run: its RunSpec, result and provenance
    runs/.<run_id>.*.tmp      a write in progress (or left by a killed process): never read
    runs/corrupt/             files that could not be read back, moved aside (the run is redone;
                              a read-only store, as a report's, leaves them in place)

A record is written to a temporary file in ``runs/``, flushed and fsync'ed, then renamed over
its final name with ``os.replace`` (atomic on POSIX and Windows) and the directory is fsync'ed.
So at any moment ``runs/<run_id>.json`` is either absent or complete: a process killed with
``kill -9`` mid-write leaves at most a temporary file, which readers ignore. A final file that
still does not parse (disk full, a manual edit, a copy that went wrong), or parses but does not
fit its schema (:mod:`neuroplast.experiments.schema`: the envelope, the experiment's result, the
folder's data), is moved to ``runs/corrupt/`` with a warning that names it and says why, and
its run counts as not done.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

from neuroplast.experiments.schema import RECORD, TEXT, SchemaError, nullable, validate
from neuroplast.experiments.sweep import RunSpec
from neuroplast.files import atomic_write_text, check_writable_directory

__all__ = ["RECORD_FORMAT", "CorruptRecordWarning", "ResultStore", "atomic_write_text"]

RECORD_FORMAT = 1
"""Version of the record layout written by :meth:`ResultStore.write`."""


class CorruptRecordWarning(UserWarning):
    """A stored run could not be read back and was moved aside; the run will be redone."""


class ResultStore:
    """Finished runs of one experiment, one JSON file each.

    Args:
        directory: the experiment's output directory; records go to ``directory/runs``.
        result_schema: the experiment's result schema (:mod:`neuroplast.experiments.schema`);
            None: any JSON object.
        data_fingerprint: the fingerprint of the data the folder's runs come from; a record
            whose provenance names other data is set aside. None: not checked.
        read_only: only read (a report): a record that cannot be read back is skipped with a
            warning and left where it is, and no folder is created.
    """

    def __init__(self, directory: str | Path, *, result_schema: Any = None,
                 data_fingerprint: str | None = None, read_only: bool = False) -> None:
        self.directory = Path(directory)
        self.runs_dir = self.directory / "runs"
        self.corrupt_dir = self.runs_dir / "corrupt"
        self.result_schema = result_schema
        self.data_fingerprint = data_fingerprint
        self.read_only = read_only
        if not read_only:
            self.runs_dir.mkdir(parents=True, exist_ok=True)

    def path(self, run_id: str) -> Path:
        return self.runs_dir / f"{run_id}.json"

    def check_writable(self) -> None:
        """Refuse, before any run is computed, a store whose records could not be written.

        Raises:
            NeuroplastError: ``runs/`` does not accept new files (read-only, permissions).
        """
        check_writable_directory(self.runs_dir, f"run records into {self.runs_dir}")

    def write(self, record: dict[str, Any]) -> Path:
        """Store one finished run atomically (see the module docstring).

        Args:
            record: ``{"run_id", "spec", "result", "provenance"}`` as made by
                :func:`neuroplast.experiments.worker.run_one`; ``run_id`` must be the spec's.

        Returns:
            The path of the record file.

        Raises:
            SchemaError: the record does not fit its schema (it would not be read back).
        """
        self.check(record, record.get("run_id", "?"))
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

    def check(self, record: Any, expected_id: str) -> None:
        """Raise :class:`SchemaError` unless ``record`` is a complete record of run
        ``expected_id``: the envelope, the run id, the experiment's result schema and the data.
        """
        validate(record, RECORD, "the record")
        spec_id = RunSpec.from_dict(record["spec"]).run_id
        if record["run_id"] != spec_id or spec_id != expected_id:
            raise SchemaError(f"run id mismatch: file {expected_id!r}, record "
                              f"{record['run_id']!r}, spec {spec_id!r}")
        if self.result_schema is not None:
            validate(record["result"], self.result_schema, "its result")
        stored = record["provenance"].get("data_fingerprint")
        validate(stored, nullable(TEXT), "its provenance['data_fingerprint']")
        if self.data_fingerprint is not None and stored not in (None, self.data_fingerprint):
            raise SchemaError(f"it was computed from other data ({stored[:19]}…) than the "
                              f"folder's ({self.data_fingerprint[:19]}…)")

    def _read(self, path: Path) -> dict[str, Any] | None:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            self.check(record, path.stem)
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            what = exc if isinstance(exc, SchemaError) else f"{type(exc).__name__}: {exc}"
            if self.read_only:
                warnings.warn(f"{path} could not be read back ({what}); left it in place and "
                              "out of the report (reading moves nothing)",
                              CorruptRecordWarning, stacklevel=3)
            else:
                self._quarantine(path, what)
            return None
        return record

    def _quarantine(self, path: Path, what: object) -> None:
        """Move an unreadable record to ``runs/corrupt/`` and say so (``what``: why)."""
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
            f"{path} could not be read back ({what}); moved it to {target} — the run will be "
            "redone",
            CorruptRecordWarning, stacklevel=3,
        )
