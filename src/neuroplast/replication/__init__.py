"""Replication (B1–B5) and the combined death-and-replication schedule (sect. 4.2, 5.6–5.8)."""

from neuroplast.replication.schedule import (
    DeathReplication,
    DeathReplicationSchedule,
    parse_spec,
    schedule_from_spec,
)
from neuroplast.replication.split import (
    METHODS,
    GrowContext,
    Growth,
    ReplicationMethod,
    ReplicationResult,
    most_efficient_neurons,
    replicate,
    resolve_method,
    sample_beta,
)

__all__ = [
    "METHODS", "DeathReplication", "DeathReplicationSchedule", "GrowContext", "Growth",
    "ReplicationMethod", "ReplicationResult", "most_efficient_neurons", "parse_spec",
    "replicate", "resolve_method", "sample_beta", "schedule_from_spec",
]
