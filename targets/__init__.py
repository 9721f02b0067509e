"""Where the services run. The target is chosen once, from config, here."""
from __future__ import annotations

from config.model import StackConfig
from targets.base import Target
from targets.existing_host import existing_host_target
from targets.local_docker import local_docker_target
from targets.oci_ampere import oci_ampere_target

BUILDERS = {"docker": local_docker_target, "oci": oci_ampere_target, "host": existing_host_target}


def build_target(cfg: StackConfig) -> Target:
    return BUILDERS[cfg.target](cfg)
