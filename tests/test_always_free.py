"""Always Free at today's allowance (2 OCPUs, 12 GB, 200 GB since 2026-06-15): the defaults, and the guard that
refuses anything beyond it, a restore's retained volume included, before any resource is registered."""
from __future__ import annotations

import copy

import pulumi
import pytest
import yaml

from config import ConfigError, parse_stack_config
from config.capacity import ALWAYS_FREE, HOST_RESERVED_MB, container_limits
from config.model import OciTargetConfig
from renderers.livekit import EGRESS_DEFAULT_CPU_COSTS, egress_cpu_costs
from tests import harness

NS = harness.PROJECT
BACKUP = "ocid1.volumebackup.oc1.eu-frankfurt-1.aaaaaaaarestorepoint"
# Egress's own constant: with a request running, it admits another only within this share of its CPUs
# (pkg/config/service.go:39 maxCpuUtilization, pkg/stats/monitor.go:557-583@v1.14.1).
EGRESS_MAX_CPU_UTILIZATION = 0.8


def prod_values(**oci: object) -> dict:
    values = copy.deepcopy(harness.stack_config_as_user_sets_it("prod"))
    values[f"{NS}:oci"] = {**values[f"{NS}:oci"], **oci}
    return values


def problems(**oci: object) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(harness.raw_config(prod_values(**oci)))
    return [str(p) for p in caught.value.problems]


def parses(**oci: object) -> bool:
    parse_stack_config(harness.raw_config(prod_values(**oci)))
    return True


# --- the defaults ---------------------------------------------------------------------------------


def test_the_allowance_is_two_ocpus_twelve_gb_and_200_gb():
    assert (ALWAYS_FREE.ocpus, ALWAYS_FREE.memory_gb, ALWAYS_FREE.storage_gb) == (2, 12, 200)


def test_oci_defaults_and_every_stack_file_sit_at_the_allowance():
    model = OciTargetConfig.model_validate(harness.PROD_PERSONAL_CONFIG)
    assert (model.ocpus, model.memory_gb) == (2, 12)
    for path in ("Pulumi.prod.yaml", "examples/meeting/Pulumi.oci.yaml"):
        with open(path) as f:
            oci = yaml.safe_load(f)["config"][f"{NS}:oci"]
        assert (oci["ocpus"], oci["memoryGb"], oci["allowPaid"]) == (2, 12, False), path
        assert oci["bootVolumeGb"] + oci["dataVolumeGb"] <= ALWAYS_FREE.storage_gb, path


def test_prod_instance_is_launched_with_two_ocpus_and_twelve_gb():
    run = harness.evaluate("prod")
    (instance,) = run.monitor.by_type("oci:Core/instance:Instance")
    shape = harness.unwrap(instance.inputs)["shapeConfig"]
    assert (shape["ocpus"], shape["memoryInGbs"]) == (2, 12)


# --- the guard's refusals -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "oci, key, got, allowance",
    [
        ({"ocpus": 3}, "oci.ocpus", "3", "2 OCPUs (1,500 OCPU-hours a month since 2026-06-15)"),
        ({"memoryGb": 13}, "oci.memoryGb", "13", "12 GB (9,000 GB-hours a month since 2026-06-15)"),
        ({"bootVolumeGb": 60}, "oci.dataVolumeGb", "150", "200 GB of boot plus block storage (bootVolumeGb + dataVolumeGb = 210)"),
        # A restore: the restored volume is created while the old one is kept (retain_on_delete): 50 + 150 + 150.
        (
            {"dataVolumeBackupId": BACKUP},
            "oci.dataVolumeBackupId",
            repr(BACKUP),
            "200 GB of boot plus block storage while the old data volume is kept: "
            "bootVolumeGb + dataVolumeGb + the retained old volume = 50 + 150 + 150 = 350",
        ),
        # Declared by hand: an old volume still in the tenancy counts too.
        (
            {"dataVolumeBackupId": BACKUP, "dataVolumeGb": 100, "retainedDataVolumeGb": 60},
            "oci.retainedDataVolumeGb",
            "60",
            "= 50 + 100 + 60 = 210",
        ),
    ],
    ids=["ocpus", "memory", "storage", "restore", "retained"],
)
def test_guard_refuses_beyond_the_allowance_naming_key_and_allowance(oci, key, got, allowance):
    found = [m for m in problems(**oci) if m.startswith(f"{NS}:{key}: got {got}; ")]
    assert len(found) == 1, problems(**oci)
    assert "exceeds Oracle's Always Free allowance of" in found[0] and allowance in found[0]
    assert "set oci.allowPaid: true" in found[0]


def test_restore_refusal_says_how_to_fit():
    (found,) = [m for m in problems(dataVolumeBackupId=BACKUP) if "oci.dataVolumeBackupId" in m]
    assert "set oci.retainedDataVolumeGb: 0" in found and "dataVolumeGb <= 75" in found


@pytest.mark.parametrize(
    "oci",
    [
        {"ocpus": 2, "memoryGb": 12, "bootVolumeGb": 50, "dataVolumeGb": 150},
        {"bootVolumeGb": 100, "dataVolumeGb": 100},
        # The old volume kept until the restore is checked fits when 50 + 75 + 75 <= 200.
        {"dataVolumeBackupId": BACKUP, "dataVolumeGb": 75},
        # The old volume deleted: only boot + the restored volume count.
        {"dataVolumeBackupId": BACKUP, "retainedDataVolumeGb": 0},
        {"dataVolumeGb": 100, "retainedDataVolumeGb": 50},
    ],
)
def test_guard_admits_up_to_the_allowance(oci):
    assert parses(**oci)


@pytest.mark.parametrize(
    "oci",
    [
        {"ocpus": 4, "memoryGb": 24},
        {"bootVolumeGb": 100, "dataVolumeGb": 300},
        {"dataVolumeBackupId": BACKUP},
        {"retainedDataVolumeGb": 500},
    ],
)
def test_allow_paid_lifts_every_refusal(oci):
    assert problems(**oci)  # refused without it...
    assert parses(**oci, allowPaid=True)


@pulumi.runtime.test
def test_refusal_comes_before_any_resource():
    monitor = harness.install_mocks("prod")
    harness.set_config(prod_values(ocpus=4, dataVolumeBackupId=BACKUP))
    with pytest.raises(ConfigError) as caught:
        harness.run_program()
    assert f"{NS}:oci.ocpus" in str(caught.value) and f"{NS}:oci.dataVolumeBackupId" in str(caught.value)
    assert monitor.registered == []


# --- prod's limits under 2 OCPUs and 12 GB ---------------------------------------------------------


def test_prod_container_limits_leave_the_os_its_headroom():
    cfg = parse_stack_config(harness.raw_config(prod_values()))
    limits = container_limits(cfg)
    assert sum(m for m, _ in limits.values()) + HOST_RESERVED_MB <= cfg.oci.memory_gb * 1024
    assert all(cpus <= cfg.oci.ocpus for _, cpus in limits.values()), limits


def test_prod_egress_admits_every_recording_type_one_room_composite_at_a_time():
    cfg = parse_stack_config(harness.raw_config(prod_values()))
    egress_cpus = cfg.media_server.egress.cpus
    costs = egress_cpu_costs(egress_cpus)
    assert set(costs) == set(EGRESS_DEFAULT_CPU_COSTS)
    # Idle, Egress admits a request when its CPUs cover the cost: every type, once capped.
    assert all(cost <= egress_cpus for cost in costs.values()), costs
    # With one running, 0.8 x its CPUs less what runs must cover the next: a second room composite, web or
    # participant recording never fits (the README's "What 2 OCPUs can record at once").
    busy = EGRESS_MAX_CPU_UTILIZATION * egress_cpus
    for kind in ("room_composite_cpu_cost", "web_cpu_cost", "participant_cpu_cost"):
        assert busy - costs[kind] < costs[kind], kind
    assert costs["track_cpu_cost"] == 0.5 and costs["audio_room_composite_cpu_cost"] == 1.0
