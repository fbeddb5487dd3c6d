"""The benchmark runner: ``python -m benchmarks [--quick] [--out-dir DIR] [--only NAME ...]``.

It discovers every module ``benchmarks/bench_*.py``, runs each, prints one combined table and
writes ``results.json`` and ``results.md`` (``results-quick.*`` with ``--quick``, so a smoke run
never overwrites the committed full results) into ``--out-dir`` (default ``docs/benchmarks``),
with a description of the machine. These machines are shared and noisy, so every figure is a
**ratio against a reference measured in the same run** (DESIGN.md §5), never an absolute time.

Writing a benchmark module
--------------------------
A module ``benchmarks/bench_<name>.py`` exposes::

    def run(quick: bool = False) -> dict: ...
    # or, if it writes figures:
    def run(quick: bool = False, out_dir: pathlib.Path | None = None) -> dict: ...

``quick=True`` must finish in well under a minute (a smoke test of the code path); the full run
should stay within a few minutes. ``out_dir``, when the signature accepts it, is the folder the
results go to; write figures there (PNG, matplotlib's ``Agg`` backend) and list their file names
under ``"figures"``. The returned dict must be JSON-serialisable and should hold:

``rows`` (list of dicts), one per headline figure, each with
    * ``name`` (str): what is measured, one line, e.g. ``"fused training, 28 N1 nets"``.
    * ``value`` (float): the measured figure.
    * ``unit`` (str): the unit of ``value`` and ``reference``, e.g. ``"s"``,
      ``"steps/s"``, ``"FLOP/s"``.
    * ``reference`` (float or None): the reference measured in the same run, same unit.
    * ``reference_name`` (str): what the reference is, e.g. ``"one forward pass, 60,000 images"``.
    * ``ratio`` (float): the figure the goal is about. When absent it is
      ``value / reference``; give it explicitly when the natural ratio is the other way round
      (e.g. a throughput ratio computed from times).
    * ``goal`` (str or None): a condition on ``ratio``: ``">= 10"``, ``"<= 1.5"``, ``"> 0"``,
      ``"< 3"``; None or absent for an informational row.
    * ``note`` (str, optional): one line, e.g. how FLOPs are counted.

and optionally
    * ``tables``: a list of ``{"title": str, "headers": [str], "rows": [[...]]}`` rendered
      into ``results.md`` (e.g. a scaling table);
    * ``figures``: file names written into ``out_dir``, embedded in ``results.md``;
    * ``notes``: a list of str (paragraphs for ``results.md``);
    * anything else (raw timings, parameters): kept as is in ``results.json``.

A module that returns some other shape is tolerated: its dict is printed and stored as is. A
module that raises is reported with its traceback and the runner goes on with the next one
(exit status 1 at the end).

Helpers for modules: :func:`best_time` (min-of-repeats timing of a callable) and
:func:`load_benchmark_mnist` (the real MNIST without downloading, else the embedded subset).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import inspect
import json
import math
import os
import pkgutil
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from neuroplast.cli.common import positive_int
from neuroplast.files import first_line

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
DEFAULT_OUT_DIR = REPO_ROOT / "docs" / "benchmarks"
PREFIX = "bench_"
COLUMNS = ("benchmark", "measured", "reference", "ratio", "goal", "verdict")


# -- helpers for benchmark modules ---------------------------------------------------------
def git_output(*args: str) -> str:
    """``git <args>`` in the repository, stripped ("unknown" without git or outside a clone)."""
    try:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def best_time(fn: Callable[[], Any], *, repeats: int = 5, min_seconds: float = 0.2) -> float:
    """Seconds per call of ``fn``: the minimum over ``repeats`` timed rounds.

    Each round calls ``fn`` as many times as needed to last at least ``min_seconds`` (the count
    is chosen once, from a first untimed warm-up call). The minimum is the estimate least
    disturbed by other processes on a shared machine.
    """
    started = time.perf_counter()
    fn()
    first = max(time.perf_counter() - started, 1e-9)
    number = max(1, math.ceil(min_seconds / first))
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - started) / number)
    return best


def load_benchmark_mnist():
    """MNIST for benchmarks, never downloaded: the real files if found, else the embedded set.

    Looks in ``$NEUROPLAST_DATA`` and the user cache (as :func:`neuroplast.data.load_mnist`
    does), then in ``../shared/data/mnist`` beside the repository. Check ``dataset.name``: the
    embedded fallback has 8,000 training images, not 60,000.
    """
    from neuroplast.data import DataNotFoundError, load_mnist, load_mnist_or_embedded

    beside = REPO_ROOT.parent / "shared" / "data" / "mnist"
    for root in (None, beside):
        try:
            return load_mnist(root, download=False)
        except DataNotFoundError:
            continue
    return load_mnist_or_embedded(download=False)


def trained_n4(train_split: Any, *, seed: int = 0, protocol: str = "fast",
               paper_epochs: float = 5000.0, cache: Path | None = None) -> tuple[Any, float]:
    """N4 trained with ``protocol``; returns (model, training seconds, 0 if read from cache).

    With ``cache`` the net is read from that file when it exists — refused if its metadata
    (seed, protocol, paper epochs, the training data's fingerprint) disagree — else trained
    and saved there.
    """
    from neuroplast.data.datasets import tensors_fingerprint
    from neuroplast.errors import NeuroplastError
    from neuroplast.models import build_mlp, initialize, load_model, save_model
    from neuroplast.train import get_protocol, train

    expected = {"seed": seed, "protocol": protocol, "paper_epochs": paper_epochs,
                "train_data": tensors_fingerprint([train_split.x, train_split.y])}
    if cache is not None and cache.is_file():
        model, metadata = load_model(cache)
        found = {key: metadata.get(key) for key in expected}
        if found["train_data"] is None:
            raise NeuroplastError(f"{cache} was cached before the benchmarks recorded the "
                                  "training data's fingerprint; delete it (it is trained again)")
        if found != expected:
            raise NeuroplastError(f"{cache} holds a net trained with {found}, expected "
                                  f"{expected}; delete it or choose another cache folder")
        return model, 0.0
    rescaled = get_protocol(protocol)
    model = initialize(build_mlp("N4"), seed)
    started = time.perf_counter()
    train(model, train_split, rescaled, epochs=rescaled.epochs(paper_epochs), seed=seed,
          progress=False)
    seconds = time.perf_counter() - started
    if cache is not None:
        save_model(model, cache, metadata={"arch": "N4", **expected})
    return model, seconds


# -- machine description -----------------------------------------------------------------
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def machine_description() -> dict[str, Any]:
    """CPU model and the SIMD level torch uses on it (``AVX2``, ``AVX512``: the same model name
    can come with either, and element-wise kernels differ several-fold between them), cores,
    memory, torch version and threads, load, date (UTC)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        load = None
    return {
        "cpu": _cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # SIMD level torch runs at
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gib": _memory_gib(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cuda_available": torch.cuda.is_available(),
        "load_average_1_5_15_min": load,
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
    }


# -- discovery and running ---------------------------------------------------------------
def discover() -> list[str]:
    """Names (without the ``bench_`` prefix) of the benchmark modules, sorted."""
    return sorted(
        info.name.removeprefix(PREFIX)
        for info in pkgutil.iter_modules([str(PACKAGE_DIR)])
        if info.name.startswith(PREFIX)
    )


def _select(available: Sequence[str], only: Sequence[str] | None) -> list[str]:
    if not only:
        return list(available)
    chosen = []
    for name in only:
        short = name.removeprefix(PREFIX).removesuffix(".py")
        if short not in available:
            print(f"unknown benchmark {name!r}; available: {', '.join(available) or '(none)'}",
                  file=sys.stderr)
            raise SystemExit(2)
        chosen.append(short)
    return chosen


def run_module(name: str, *, quick: bool, out_dir: Path) -> dict[str, Any]:
    """Import ``benchmarks.bench_<name>`` and run it; never raises (errors are recorded)."""
    entry: dict[str, Any] = {"quick": quick, "date_utc": machine_description()["date_utc"]}
    started = time.perf_counter()
    try:
        module = importlib.import_module(f"benchmarks.{PREFIX}{name}")
        run = module.run
        kwargs: dict[str, Any] = {"quick": quick}
        if "out_dir" in inspect.signature(run).parameters:
            kwargs["out_dir"] = out_dir
        result = run(**kwargs)
        entry["result"] = json.loads(json.dumps(result, default=_json_default))
    except Exception:  # noqa: BLE001 — one broken benchmark must not stop the others
        entry["error"] = traceback.format_exc()
    entry["wall_s"] = round(time.perf_counter() - started, 2)
    return entry


def _json_default(value: Any) -> Any:
    if torch.is_tensor(value):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    return str(value)


# -- verdicts and formatting -------------------------------------------------------------
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
}


def row_ratio(row: dict[str, Any]) -> float | None:
    """The row's ratio: given, or value / reference, or None."""
    ratio = row.get("ratio")
    if ratio is None:
        value, reference = row.get("value"), row.get("reference")
        if isinstance(value, int | float) and isinstance(reference, int | float) and reference:
            ratio = value / reference
    return None if ratio is None else float(ratio)


def verdict(row: dict[str, Any]) -> str:
    """``pass`` / ``FAIL`` against the row's goal, ``-`` without one, ``n/a`` without a ratio."""
    goal = row.get("goal")
    if not goal:
        return "-"
    ratio = row_ratio(row)
    if ratio is None or not math.isfinite(ratio):
        return "n/a"
    text = str(goal).strip()
    for op in sorted(_OPS, key=len, reverse=True):
        if text.startswith(op):
            try:
                threshold = float(text[len(op):].strip().rstrip("x×"))
            except ValueError:
                return "bad goal"
            return "pass" if _OPS[op](ratio, threshold) else "FAIL"
    return "bad goal"


def _number(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if not isinstance(value, int | float):
        return str(value)
    if value == 0 or 1e-3 <= abs(value) < 1e5:
        text = f"{value:.4g}"
    else:
        text = f"{value:.3e}"
    return f"{text} {unit}".strip()


def table_rows(results: dict[str, dict[str, Any]]) -> list[list[str]]:
    """One line per headline row of every module, in the order of :data:`COLUMNS`."""
    lines = []
    for name, entry in results.items():
        if "error" in entry:
            lines.append([f"{name}: ERROR", "-", "-", "-", "-", "error"])
            continue
        result = entry.get("result")
        rows = result.get("rows") if isinstance(result, dict) else None
        if not isinstance(rows, list):
            lines.append([f"{name}: (no rows)", "-", "-", "-", "-", "-"])
            continue
        for row in rows:
            unit = row.get("unit", "")
            ratio = row_ratio(row)
            lines.append([
                f"{name}: {row.get('name', '?')}",
                _number(row.get("value"), unit),
                _number(row.get("reference"), unit),
                "-" if ratio is None else f"{ratio:.3g}",
                str(row.get("goal") or "-"),
                verdict(row),
            ])
    return lines


def format_text_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An aligned plain-text table."""
    text = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in text]) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)),
           "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in text]
    return "\n".join(out)


def format_markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table (``|`` in cells escaped)."""
    def cell(value: Any) -> str:
        text = _number(value) if isinstance(value, float) else str(value)
        return text.replace("|", "\\|")

    out = ["| " + " | ".join(cell(h) for h in headers) + " |",
           "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


REPORT_TITLE = "# neuroplast benchmarks"
"""The first line of every ``results.md`` the runner writes."""


def markdown_report(report: dict[str, Any]) -> str:
    """The whole ``results.md``: machine, combined table, then each module's details."""
    machine = report["machine"]
    lines = [
        REPORT_TITLE + (" (quick mode)" if report.get("quick") else ""),
        "",
        f"Generated by `python -m benchmarks{' --quick' if report.get('quick') else ''}` on "
        f"{machine['date_utc']} UTC. Every figure is a ratio against a reference measured in "
        "the same run; absolute times on this shared machine are only indicative.",
        "",
        "## Machine",
        "",
        format_markdown_table(["property", "value"], [[k, v] for k, v in machine.items()]),
        "",
        "## Results",
        "",
        format_markdown_table(COLUMNS, table_rows(report["benchmarks"])),
        "",
    ]
    for name, entry in report["benchmarks"].items():
        ran = entry.get("machine", {})
        lines += [f"## {name}", "",
                  f"Ran {entry.get('date_utc', '?')} UTC in {entry.get('wall_s', '?')} s"
                  f"{' (quick mode)' if entry.get('quick') else ''} on "
                  f"{ran.get('cpu', '?')} ({ran.get('cpu_capability', 'SIMD level not recorded')}) "
                  f"with {ran.get('torch_threads', '?')} torch thread(s), load average "
                  f"{ran.get('load_average_1_5_15_min', '?')} at the start of the run.", ""]
        if "error" in entry:
            lines += ["```", entry["error"].rstrip(), "```", ""]
            continue
        result = entry.get("result")
        if not isinstance(result, dict) or not isinstance(result.get("rows"), list):
            lines += ["```json", json.dumps(result, indent=2), "```", ""]
            continue
        notes = [row for row in result["rows"] if row.get("note")]
        for row in notes:
            lines.append(f"- *{row['name']}*: {row['note']}")
        if notes:
            lines.append("")
        for table in result.get("tables", []):
            lines += [f"**{table.get('title', '')}**", "",
                      format_markdown_table(table["headers"], table["rows"]), ""]
        for figure in result.get("figures", []):
            lines += [f"![{figure}]({figure})", ""]
        for note in result.get("notes", []):
            lines += [str(note), ""]
    return "\n".join(lines)


# -- entry point -------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run neuroplast's benchmarks; print a table, write JSON and Markdown.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="smoke-test sizes (well under a minute per module); writes "
                             "results-quick.json/.md")
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR,
                        help=f"where results and figures go (default: {DEFAULT_OUT_DIR})")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="run only these modules (e.g. training, bench_training); their "
                             "entries replace the old ones in an existing results.json")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="torch.set_num_threads before running (default: torch's choice)")
    parser.add_argument("--list", action="store_true", help="list the modules and exit")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected benchmarks; exit status 1 if any module raised."""
    args = parse_args(argv)
    available = discover()
    if args.list:
        print("\n".join(available))
        return 0
    names = _select(available, args.only)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    out_dir: Path = args.out_dir
    if out_dir.exists() and not out_dir.is_dir():
        print(f"benchmarks: --out-dir {out_dir} is a file; give a folder for the results",
              file=sys.stderr)
        return 2
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "results-quick" if args.quick else "results"
    json_path, md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    benchmarks: dict[str, dict[str, Any]] = {}
    if json_path.is_file():  # ours to replace only if it reads as a results file
        try:
            stored = json.loads(json_path.read_text())["benchmarks"]
            if not isinstance(stored, dict):
                raise TypeError("benchmarks is not an object")
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
            print(f"benchmarks: {json_path} is not a results file this runner wrote (and with "
                  "--only its other modules' entries could not be kept); move it away or give "
                  "another --out-dir", file=sys.stderr)
            return 2
        if args.only:  # its other modules' entries are kept
            benchmarks = stored
    if md_path.is_file() and not first_line(md_path).startswith(REPORT_TITLE):
        print(f"benchmarks: {md_path} was not written by this runner (its first line is not "
              f"'{REPORT_TITLE}'); move it away or give another --out-dir", file=sys.stderr)
        return 2

    machine = machine_description()
    started = time.perf_counter()
    for name in names:
        print(f"running {PREFIX}{name} ...", file=sys.stderr, flush=True)
        entry = run_module(name, quick=args.quick, out_dir=out_dir)
        entry["machine"] = machine
        benchmarks[name] = entry
        status = "error" if "error" in entry else "done"
        print(f"  {status} in {entry['wall_s']:.1f} s", file=sys.stderr, flush=True)
        if "error" in entry:
            print(entry["error"], file=sys.stderr)
        elif not isinstance(entry.get("result"), dict) or "rows" not in entry["result"]:
            print(json.dumps(entry.get("result"), indent=2))
    report = {
        "machine": machine,
        "quick": args.quick,
        "wall_s": round(time.perf_counter() - started, 2),
        "benchmarks": dict(sorted(benchmarks.items())),
    }
    print(format_text_table(COLUMNS, table_rows(report["benchmarks"])))
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    md_path.write_text(markdown_report(report))
    print(f"\nwrote {json_path} and {md_path} ({report['wall_s']:.1f} s)", file=sys.stderr)
    return 1 if any("error" in benchmarks[n] for n in names) else 0
