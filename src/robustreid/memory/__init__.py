"""The cluster memory bank, its loss, and the strategies that initialise and update it.

The strategies are named in :mod:`.settings` (``mean`` init and ``mean`` / ``hard`` /
``gated`` update from :mod:`.strategies`; the paper's ``csa`` / ``mean+saa`` init and
``hps`` / ``hps_gated`` update from :mod:`.robust`), which a config is checked against
without importing torch; the package's names are imported when first used.
"""

from robustreid.utils.lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "robustreid.memory.cluster_memory": ["ClusterMemory", "momentum_update"],
        "robustreid.memory.settings": ["MemoryConfig", "SAAConfig"],
        "robustreid.memory.strategies": ["InitContext", "MemoryState", "UpdateContext"],
    },
)
