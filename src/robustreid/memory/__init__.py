"""The cluster memory bank, its loss, and the strategies that initialise and update it.

Importing the package registers every strategy: ``mean`` (init), ``mean`` / ``hard``
(update) from :mod:`.strategies`, and the paper's ``csa`` / ``mean+saa`` (init) and
``hps`` (update) from :mod:`.robust`.
"""

from robustreid.memory import robust, strategies  # noqa: F401  (registration side effects)
from robustreid.memory.cluster_memory import ClusterMemory, MemoryConfig, momentum_update
from robustreid.memory.strategies import InitContext, MemoryState, UpdateContext

__all__ = ["ClusterMemory", "InitContext", "MemoryConfig", "MemoryState", "UpdateContext", "momentum_update"]
