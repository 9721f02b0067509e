"""The benchmark's compose file (tests/deploy/compose_file.py) holds the same containers the program declares."""
from __future__ import annotations

import yaml

from tests import harness
from tests.deploy import compose_file


def dev_services():
    run = harness.evaluate("dev")
    images = {f"{r.name.removesuffix('-image')}": harness.unwrap(r.inputs)["name"]
              for r in run.monitor.by_type("docker:index/remoteImage:RemoteImage")}
    containers = run.monitor.by_type("docker:index/container:Container")
    services = [compose_file.Service(harness.unwrap(r.inputs)["name"], harness.unwrap(r.inputs), images[r.name], f"{r.name}-id")
                for r in containers]
    nets = [harness.unwrap(r.inputs)["name"] for r in run.monitor.by_type("docker:index/network:Network")]
    vols = [harness.unwrap(r.inputs)["name"] for r in run.monitor.by_type("docker:index/volume:Volume")]
    return services, nets, vols


def test_every_container_is_a_service_with_its_image_limits_ports_healthcheck_and_volumes():
    services, nets, vols = dev_services()
    text, files = compose_file.render(services, nets, vols)
    doc = yaml.safe_load(text)
    assert set(doc["services"]) == {s.name for s in services}
    for svc in services:
        spec = doc["services"][svc.name]
        assert spec["image"] == svc.image and spec["container_name"] == svc.name
        assert spec["mem_limit"] == f"{int(svc.inputs['memory'])}m"
        assert spec["healthcheck"]["test"] == [t.replace("$", "$$") for t in svc.inputs["healthcheck"]["tests"]]
        assert len(spec.get("ports", [])) == len(svc.inputs.get("ports") or [])
        for volume in svc.inputs.get("volumes") or []:
            assert f"{volume['volumeName']}:{volume['containerPath']}" in spec["volumes"]
        for n, upload in enumerate(svc.inputs.get("uploads") or []):
            rel = f"{compose_file.UPLOADS_DIR}/{svc.name}/{n}"
            assert files[rel] == upload["content"] and f"./{rel}:{upload['file']}:ro" in spec["volumes"]
    assert set(doc["volumes"]) == set(vols) and set(doc["networks"]) == set(nets)


def test_the_egress_sidecar_joins_livekits_namespace_by_service_name():
    services, nets, vols = dev_services()
    doc = yaml.safe_load(compose_file.render(services, nets, vols)[0])
    assert doc["services"]["media-egress"]["network_mode"] == "service:media-livekit"
