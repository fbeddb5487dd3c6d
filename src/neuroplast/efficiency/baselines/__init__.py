"""Baseline efficiency measures for comparison (paper §5.5 and today's common tools).

Importing this package registers every baseline in :data:`neuroplast.efficiency.MEASURES`, so
each plugs into the same strategies and re-wiring rules as the paper's E_k and E'_k:

* :mod:`.n2ps` — ``n2ps``, ``n2ps-mean``, ``n2ps-mean-inverted``, ``n2ps-product`` (eq. 52);
* :mod:`.nnsp` — ``nnsp:<level>``, variance of sensitivity at a Fig. 17 level (eqs 53–68);
* :mod:`.sensitivity` — ``weight-norm`` (eq. 69) and ``zeng-yeung``;
* :mod:`.magnitude` — ``magnitude-l1-in`` … ``magnitude-l2`` (weight norms);
* :mod:`.taylor` — ``taylor``, first-order Taylor (Molchanov et al. 2017);
* :mod:`.random` — ``random:<seed>``;
* :mod:`.torch_pruning` — ``tp-magnitude``, ``tp-taylor``, ``tp-hessian``, ``tp-lamp``,
  ``tp-fpgm`` through the optional Torch-Pruning package;
* :mod:`.obs` — ``obs`` and the greedy ``obs:greedy``, structured OBS (ZipLM, SlimGPT), with
  rule ``obs``;
* :mod:`.flap` — ``flap`` (FLAP's fluctuation metric; with rule A1 its bias compensation) and
  ``flap_allocation`` / ``flap_prune`` for its global standardised ranking;
* :mod:`.wanda` — ``wanda-sp``, structured Wanda as in FLAP's paper;
* :mod:`.bn_scale` — ``bn-scale``, network slimming's |gamma|;
* :mod:`.tp_general` — ``tp-group-l1``, ``tp-group-l2``, ``tp-group-taylor``,
  ``tp-group-lamp``, ``tp-bn-scale``: Torch-Pruning's group importances on every site with a
  Linear or Conv2d producer.
"""

from neuroplast.efficiency.baselines import (  # noqa: F401  (imported to register)
    bn_scale,
    flap,
    magnitude,
    n2ps,
    nnsp,
    obs,
    random,
    sensitivity,
    taylor,
    torch_pruning,
    tp_general,
    wanda,
)
