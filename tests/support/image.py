"""The locally built test image (see tests/image/)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import docker
import docker.errors

IMAGE_DIR = Path(__file__).resolve().parent.parent / "image"
BUILD_SCRIPT = IMAGE_DIR / "build.sh"


def image_tag() -> str:
    """The tag of the test image; ``HEALER_TEST_IMAGE`` overrides it (build.sh reads it too)."""
    return os.environ.get("HEALER_TEST_IMAGE", "compose-healer-test/busybox:latest")


def image_exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def ensure_test_image(client: docker.DockerClient) -> tuple[str, bool]:
    """Return ``(tag, built_now)``, running tests/image/build.sh if the tag is missing."""
    tag = image_tag()
    if image_exists(client, tag):
        return tag, False
    proc = subprocess.run(
        ["bash", str(BUILD_SCRIPT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "HEALER_TEST_IMAGE": tag},
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"building the test image {tag} failed (exit {proc.returncode}):\n"
            f"{proc.stdout}{proc.stderr}"
        )
    return tag, True
