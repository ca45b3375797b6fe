"""Recreate (compose --force-recreate) bodies from the same translation as new replicas."""

from __future__ import annotations

from healer.adapters.docker.container_spec import (
    create_body,
    namespace_sharer,
    recreate_body,
)
from healer.core.compose_labels import NUMBER_LABEL, REPLACE_LABEL
from tests.unit.test_scale_translate import ANON, CID, inspect


def test_recreate_keeps_name_number_labels_and_config() -> None:
    info = inspect()
    body, more = recreate_body(info, "busybox:latest")
    labels = body["Labels"]
    assert labels[NUMBER_LABEL] == "1"
    assert labels["com.docker.compose.config-hash"] == "f678"
    assert labels[REPLACE_LABEL] == "web-1"  # what compose 2.40 sets
    assert body["Cmd"] == info["Config"]["Cmd"] and body["Env"] == info["Config"]["Env"]
    assert body["Healthcheck"] == info["Config"]["Healthcheck"]
    assert body["HostConfig"]["RestartPolicy"] == {"Name": "unless-stopped"}
    assert body["Image"] == "busybox:latest"
    # Docker's default hostname is the old short id: the new container gets its own.
    assert "Hostname" not in body
    # Same name: aliases and links stay as they are (the old short id alias is dropped).
    first = body["NetworkingConfig"]["EndpointsConfig"]
    assert list(first) == ["proj_default"]
    assert first["proj_default"]["Aliases"] == ["proj-web-1", "web"]
    assert body["HostConfig"]["Links"] == ["/proj-db-1:/proj-web-1/db"]
    assert list(more) == ["backend"]


def test_recreate_inherits_every_volume_as_compose_does() -> None:
    info = inspect()
    body, _ = recreate_body(info, "img")
    host = body["HostConfig"]
    assert host["Binds"] == info["HostConfig"]["Binds"]  # named, anonymous and host paths
    assert host["Mounts"] == info["HostConfig"]["Mounts"]
    assert {"Type": "volume", "Source": ANON, "Target": "/old"} in host["Mounts"]
    assert "Volumes" not in body or not body["Volumes"]


def test_recreate_keeps_static_addresses_a_replica_cannot_share() -> None:
    info = inspect()
    _, more = recreate_body(info, "img")
    assert more["backend"]["IPAMConfig"] == {"x": 1}
    body, _ = recreate_body(info, "img")
    assert body["MacAddress"] == "02:42:ac:11:00:02"
    replica, replica_more = create_body(info, 2, "proj-web-2", "web", "img")
    assert "IPAMConfig" not in replica_more["backend"] and "MacAddress" not in replica
    assert REPLACE_LABEL not in replica["Labels"]
    assert not any(m.get("Source") == ANON for m in replica["HostConfig"]["Mounts"])


def test_a_namespace_sharer_is_repointed_at_the_new_owner() -> None:
    owner = "f" * 64
    sharer = inspect(
        HostConfig={"NetworkMode": f"container:{CID}", "Binds": None},
        NetworkSettings={"Networks": {}},
    )
    body, more = recreate_body(sharer, "img", f"container:{owner}")
    assert body["HostConfig"]["NetworkMode"] == f"container:{owner}"
    # A container in another's namespace may set neither a hostname nor a MAC address.
    assert "Hostname" not in body and "MacAddress" not in body
    assert "NetworkingConfig" not in body and more == {}


def test_namespace_sharer_matches_the_owner_by_id_or_name() -> None:
    by_id = inspect(HostConfig={"NetworkMode": f"container:{CID}"})
    by_name = inspect(HostConfig={"NetworkMode": "container:proj-web-1"})
    other = inspect(HostConfig={"NetworkMode": "container:" + "0" * 64})
    assert namespace_sharer(by_id, CID, "proj-web-1")
    assert namespace_sharer(by_name, CID, "proj-web-1")
    assert not namespace_sharer(other, CID, "proj-web-1")
