"""A results folder (``neuroplast reproduce --out DIR``): what neuroplast owns in it, which
data its runs were computed from, and the lock that allows one sweep at a time.

Layout::

    DIR/neuroplast-results.json   the folder's record: data fingerprint, reported runs
    DIR/.neuroplast.lock          locked (flock) by the process running a sweep; holds its PID
    DIR/index.md                  the index of the reports
    DIR/<experiment>/             one experiment: runs/, failed/, summary.md, figures, and
                                  partial/ while runs are in flight (their trainings'
                                  checkpoints, neuroplast.experiments.stage_checkpoints)

**Ownership.** neuroplast overwrites only files it wrote. Its Markdown files start with
:data:`MARK`, its figures carry a PNG ``Software`` tag naming neuroplast, and its folder record
a format tag. An existing file at one of these paths without neuroplast's mark is never
replaced: the command refuses, names the file and says how to proceed. (Reports written before
the mark existed are recognised by their first line, and their figures by their summary's
links.)

**Data.** The folder records the fingerprint of the data its runs were computed from
(:func:`neuroplast.data.data_fingerprint`: the contents, not a path). A later sweep with other
data is refused, so results from two datasets are never averaged together.

**Lock.** A sweep holds an exclusive ``flock`` on the folder's lock file for as long as it runs;
a second process is refused with the first one's PID. The lock ends with the process, even one
killed with ``kill -9``.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

from neuroplast.errors import NeuroplastError
from neuroplast.files import atomic_write_text, first_line

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock, so no lock
    fcntl = None  # type: ignore[assignment]

MARK = "<!-- written by neuroplast reproduce from the stored runs; rewritten on every run -->"
"""First line of every Markdown file neuroplast writes into a results folder."""
FOLDER_RECORD_NAME = "neuroplast-results.json"
FOLDER_FORMAT = "neuroplast-results"
LOCK_NAME = ".neuroplast.lock"
_LOCK_PREFIX = "neuroplast pid "
PNG_SOFTWARE = "neuroplast"
"""Start of the ``Software`` text of every PNG figure neuroplast writes."""
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ResultsFolderWarning(UserWarning):
    """Something about a results folder the user should know; the command goes on."""


class FolderLockedError(NeuroplastError):
    """Another process is running a sweep in the same folder."""


def _not_ours(path: Path) -> NeuroplastError:
    return NeuroplastError(
        f"{path} exists and was not written by neuroplast, which never overwrites such files; "
        "move it out of the way, or choose another --out"
    )


def check_markdown_owned(path: Path, legacy_first_line: str | None = None) -> None:
    """Refuse to overwrite ``path`` unless it is absent or neuroplast wrote it.

    Args:
        path: a Markdown file neuroplast is about to write.
        legacy_first_line: the start of the first line neuroplast wrote there before
            :data:`MARK` existed (a report of an earlier version is neuroplast's too).

    Raises:
        NeuroplastError: the file exists (or is a directory) and is not neuroplast's.
    """
    if not path.exists() and not path.is_symlink():
        return
    if path.is_file() and not path.is_symlink():
        first = first_line(path)
        if first == MARK or (legacy_first_line is not None and first.startswith(legacy_first_line)):
            return
    raise _not_ours(path)


def mark_markdown(text: str) -> str:
    """``text`` with :data:`MARK` as its first line."""
    return f"{MARK}\n{text}"


def _png_head(path: Path, size: int) -> bytes | None:
    """The first ``size`` bytes of ``path`` if it is a PNG file, else None."""
    try:
        with path.open("rb") as handle:
            head = handle.read(size)
    except OSError:
        return None
    return head if head.startswith(_PNG_SIGNATURE) else None


def png_software(path: Path) -> str | None:
    """The ``Software`` text of a PNG file (read from its first chunks), or None."""
    head = _png_head(path, 1 << 16)
    if head is None:
        return None
    position = len(_PNG_SIGNATURE)
    while position + 8 <= len(head):
        length = int.from_bytes(head[position:position + 4], "big")
        kind = head[position + 4:position + 8]
        data = head[position + 8:position + 8 + length]
        if kind == b"tEXt":
            keyword, _, text = data.partition(b"\x00")
            if keyword == b"Software":
                return text.decode("latin-1")
        if kind in (b"IDAT", b"IEND"):
            return None
        position += 12 + length
    return None


def check_figure_owned(path: Path) -> None:
    """Refuse to overwrite a figure unless it is absent or neuroplast drew it.

    A figure is neuroplast's when its PNG ``Software`` tag starts with :data:`PNG_SOFTWARE`,
    or (figures drawn before the tag existed) when it is a PNG that neuroplast's
    ``summary.md`` in the same folder (an experiment's folder, named after it) links to — a
    file of another kind put there under that name is the user's.

    Raises:
        NeuroplastError: the file exists and is not neuroplast's.
    """
    if not path.exists() and not path.is_symlink():
        return
    if path.is_file() and not path.is_symlink():
        if (png_software(path) or "").startswith(PNG_SOFTWARE):
            return
        summary = path.parent / "summary.md"
        first = first_line(summary)
        is_png = _png_head(path, len(_PNG_SIGNATURE)) is not None
        if is_png and (first == MARK or first.startswith(f"# {path.parent.name}: ")):
            try:
                if f"]({path.name})" in summary.read_text(encoding="utf-8"):
                    return
            except (OSError, UnicodeDecodeError):
                pass
    raise _not_ours(path)


class FolderLock:
    """An exclusive lock on a results folder, for one process at a time (``with`` block).

    ``flock`` on ``DIR/.neuroplast.lock`` (created if needed, in a folder created if needed);
    the holder writes its PID there so that a refused process can name it.

    Raises:
        FolderLockedError: another process holds the lock (on entering the block).
        NeuroplastError: the lock file exists but is not neuroplast's.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> FolderLock:
        if fcntl is None:  # pragma: no cover - no flock on this platform
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            content = os.pread(fd, 4096, 0).decode("utf-8", "replace")
            if content and not content.startswith(_LOCK_PREFIX):
                raise _not_ours(self.path)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = content.removeprefix(_LOCK_PREFIX).strip() or "unknown"
                raise FolderLockedError(
                    f"{self.directory} is locked by another neuroplast process (PID {holder}) "
                    "running a sweep there; wait for it to finish, or choose another --out"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{_LOCK_PREFIX}{os.getpid()}\n".encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing releases the flock
            self._fd = None


class ResultsFolder:
    """The folder record ``DIR/neuroplast-results.json``: data fingerprint and reports.

    Args:
        directory: the results folder (``--out``).
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / FOLDER_RECORD_NAME

    def read(self) -> dict[str, Any]:
        """The folder record (empty parts when there is none yet).

        Raises:
            NeuroplastError: the file exists but is not a neuroplast folder record.
        """
        if not self.path.exists():
            return {"format": FOLDER_FORMAT, "data": None, "reports": {}}
        try:
            record = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            record = None
        if not isinstance(record, dict) or record.get("format") != FOLDER_FORMAT:
            raise _not_ours(self.path)
        record.setdefault("data", None)
        record.setdefault("reports", {})
        return record

    def _write(self, record: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, json.dumps(record, indent=1, sort_keys=True) + "\n")

    @property
    def data_fingerprint(self) -> str | None:
        """The fingerprint of the data the folder's runs were computed from, if recorded."""
        data = self.read()["data"]
        return data.get("fingerprint") if isinstance(data, dict) else None

    def claim_data(self, fingerprint: str, source: str) -> str:
        """Record the data of this sweep, or refuse data other than the folder's.

        A folder that holds runs but no record of their data (written by an earlier
        neuroplast) takes these data's fingerprint, with a warning.

        Returns:
            ``fingerprint``.

        Raises:
            NeuroplastError: the folder's runs were computed from other data.
        """
        record = self.read()
        recorded = record["data"] if isinstance(record["data"], dict) else None
        if recorded is not None and recorded.get("fingerprint") == fingerprint:
            return fingerprint
        if recorded is not None:
            raise NeuroplastError(
                f"{self.directory} holds runs computed from other data ({recorded.get('source')}, "
                f"{str(recorded.get('fingerprint'))[:19]}…) than these ({source}, "
                f"{fingerprint[:19]}…); give the --data they came from, or choose another --out "
                "for these data"
            )
        stored = self.stored_fingerprints()  # no folder record (lost, or copied without it)
        if stored - {fingerprint}:
            advice = ("give the --data they came from, or choose another --out for these data"
                      if len(stored) == 1 else
                      f"they come from {len(stored)} different data sets, so choose another "
                      "--out for these data")
            raise NeuroplastError(
                f"{self.directory} holds runs computed from other data (fingerprint "
                f"{sorted(stored - {fingerprint})[0][:19]}…) than these ({source}, "
                f"{fingerprint[:19]}…); {advice}"
            )
        if stored:  # the runs name these data: the record is written again from them
            warnings.warn(
                f"{self.directory} had no record of its data; its runs record these data "
                f"({source}), and the record is written again",
                ResultsFolderWarning, stacklevel=2,
            )
        elif any(self.directory.glob("*/runs/*.json")):
            warnings.warn(
                f"{self.directory} has runs stored without a record of their data (an earlier "
                f"neuroplast); from now on it is taken to hold runs of {source}",
                ResultsFolderWarning, stacklevel=2,
            )
        record["data"] = {"fingerprint": fingerprint, "source": source}
        self._write(record)
        return fingerprint

    def stored_fingerprints(self) -> set[str]:
        """The data fingerprints the folder's stored runs record in their provenance (runs
        that cannot be read, or record none, are left out: the store judges them)."""
        found = set()
        for path in self.directory.glob("*/runs/*.json"):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                stored = record["provenance"]["data_fingerprint"]
            except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
                continue
            if isinstance(stored, str):
                found.add(stored)
        return found

    def record_report(self, experiment: str, runs: int, seeds: list[int]) -> None:
        """Note that ``experiment``'s summary reports ``runs`` runs of ``seeds``."""
        record = self.read()
        record["reports"][experiment] = {"runs": runs, "seeds": seeds}
        self._write(record)

    def reported_runs(self, experiment: str) -> int | None:
        """How many runs the experiment's summary reports (None: not recorded)."""
        entry = self.read()["reports"].get(experiment)
        return entry.get("runs") if isinstance(entry, dict) else None
