"""Where the services run. The target is chosen once, from config, here."""
from __future__ import annotations

from config.model import StackConfig
from targets.base import Target


def build_target(cfg: StackConfig) -> Target:
    if cfg.target == "oci":
        from targets.oci_ampere import oci_ampere_target

        return oci_ampere_target(cfg)
    from targets.local_docker import local_docker_target

    return local_docker_target(cfg)
