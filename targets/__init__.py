"""Where the services run. The target is chosen once, from config, here."""
from __future__ import annotations

from config.model import StackConfig
from targets.base import Target
from targets.local_docker import local_docker_target
from targets.oci_ampere import oci_ampere_target


def build_target(cfg: StackConfig) -> Target:
    return oci_ampere_target(cfg) if cfg.target == "oci" else local_docker_target(cfg)
