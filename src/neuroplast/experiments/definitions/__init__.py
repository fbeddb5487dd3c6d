"""The paper's experiments, one module each; ``DEFINITIONS`` lists them in the paper's order.

How to add an experiment (``training_baseline.py`` is the example to copy):

1. Create ``definitions/<name>.py`` with three top-level functions — not lambdas or closures,
   so that process pools and Ray can pickle them — and one :class:`Experiment`:

   * ``configs(protocol) -> list[dict]``: the configurations to sweep, plain JSON (numbers,
     strings, lists, dicts). Give lengths in the *paper's* epochs (``"paper_epochs": 5000``);
     ``run`` rescales them with ``protocol.epochs(...)``. Every key takes part in the run id,
     so changing a configuration makes new runs and never mixes old and new results.
   * ``run(spec, data_dir) -> dict``: one (configuration, seed). Read the data with
     ``mnist(data_dir)`` (cached per process; never modify it), seed everything from
     ``spec.seed``, pass ``progress=False`` to ``train``, and return plain JSON numbers
     (``float(...)``, ``.tolist()``). Library calls only: the mathematics lives in the library.
   * ``report(records, out_dir) -> Path``: ``records`` are the stored runs of the sweep in run
     order (``record["spec"]["config"]``, ``record["spec"]["seed"]``, ``record["result"]``).
     Build tables with ``stats_summary`` (mean ± s.e. over seeds, ``paper_vs_ours_row`` beside
     ``paper_tables.paper_table("figN")``), the claims of REFERENCE §4 with ``claims``
     (``for_protocol`` makes smoke-test verdicts inconclusive), figures with
     ``report.new_figure``/``save_figure``, and write everything with
     ``report.write_summary(out_dir, [report.header(EXPERIMENT, records), ...])``.

2. Import it here and add it to ``DEFINITIONS``; ``neuroplast reproduce <name>`` and
   ``reproduce all`` pick it up, and the registry tests run over every entry.

3. Add ``tests/test_reproduce_<name>.py`` running it with the ``quick`` protocol and one seed.
"""

from neuroplast.experiments.definitions.architecture_frontier import ARCHITECTURE_FRONTIER
from neuroplast.experiments.definitions.architecture_training import ARCHITECTURE_TRAINING
from neuroplast.experiments.definitions.compression_frontier import COMPRESSION_FRONTIER
from neuroplast.experiments.definitions.cutoff_pruning import CUTOFF_PRUNING
from neuroplast.experiments.definitions.death_and_replication import DEATH_AND_REPLICATION
from neuroplast.experiments.definitions.efficiency_vs_loss import EFFICIENCY_VS_LOSS
from neuroplast.experiments.definitions.goal_pruning import GOAL_PRUNING
from neuroplast.experiments.definitions.input_pruning import INPUT_PRUNING
from neuroplast.experiments.definitions.replication import REPLICATION
from neuroplast.experiments.definitions.replication_shift import REPLICATION_SHIFT
from neuroplast.experiments.definitions.training_baseline import BASELINE_TRAINING
from neuroplast.experiments.definitions.untrained_pruning import UNTRAINED_PRUNING
from neuroplast.experiments.definitions.vs_n2ps import VS_N2PS
from neuroplast.experiments.definitions.vs_nnsp import VS_NNSP

DEFINITIONS = (EFFICIENCY_VS_LOSS, BASELINE_TRAINING, CUTOFF_PRUNING, GOAL_PRUNING,
               INPUT_PRUNING, UNTRAINED_PRUNING, VS_N2PS, VS_NNSP, REPLICATION,
               REPLICATION_SHIFT, DEATH_AND_REPLICATION)
"""Every built-in experiment, in the paper's order."""

BENCHMARK_DEFINITIONS = (COMPRESSION_FRONTIER, ARCHITECTURE_FRONTIER, ARCHITECTURE_TRAINING)
"""Built-in experiments beyond the paper (not run by ``reproduce all``)."""
