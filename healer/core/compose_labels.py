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
