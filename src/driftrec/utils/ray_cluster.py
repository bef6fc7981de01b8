"""Joining or starting a Ray cluster, for the batch work that runs on Ray.

``address`` says where Ray runs: ``local`` starts a private Ray on this machine with
``workers`` CPUs; ``auto`` joins the cluster this machine belongs to (``RAY_ADDRESS`` or
a ``ray start`` on this machine) and starts a local one when there is none; anything else
is a cluster address (``ray://head:10001`` or ``head:6379``). Ray is an optional
dependency (``pip install "ray[data]"``, the ``ray`` extra).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def connect(address: str = "auto", *, workers: int = 2, **init: Any) -> Any:
    """Initialise Ray (once per process) for ``address``; returns the ``ray`` module."""
    try:
        import ray
    except ImportError as exc:
        raise ImportError('work on Ray needs Ray: pip install "ray[data]"') from exc
    if ray.is_initialized():
        return ray
    options = {"include_dashboard": False, "log_to_driver": False, **init}
    if address == "local":
        ray.init(num_cpus=workers, **options)
    elif address == "auto":
        try:
            ray.init(address="auto", **options)
        except ConnectionError:
            log.info("no running Ray cluster found: starting a local one with %d CPUs",
                     workers)
            ray.init(num_cpus=workers, **options)
    else:
        ray.init(address=address, **options)
    return ray
