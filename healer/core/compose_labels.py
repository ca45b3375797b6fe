"""The labels Docker Compose puts on the containers it creates: the only way the healer
knows which project and service a container belongs to. Defined once, here."""

from __future__ import annotations

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
NUMBER_LABEL = "com.docker.compose.container-number"
ONEOFF_LABEL = "com.docker.compose.oneoff"
DEPENDS_ON_LABEL = "com.docker.compose.depends_on"
# Set by compose on a recreated container (`<service>-<number>` in compose 2.40), and by the
# healer's recreate; a new replica is not replacing anything.
REPLACE_LABEL = "com.docker.compose.replace"


def compose_name(project: str, service: str, number: int, sep: str = "-") -> str:
    """Compose v2 names replicas `<project>-<service>-<n>` (v1 used `_`)."""
    return sep.join((project, service, str(number)))


def name_separator(template_name: str, project: str, service: str) -> str | None:
    """`-` or `_` as the template's name uses it; None when the service sets container_name
    (a fixed name cannot be replicated, and compose refuses to scale it too)."""
    name = template_name.lstrip("/")
    for sep in ("-", "_"):
        prefix = f"{project}{sep}{service}{sep}"
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            return sep
    return None
