# One image for every compose-healer role. There is no ENTRYPOINT: the compose `command:`
# is the whole argv, so the role is whatever the compose file runs (see docker-compose.yml):
#
#   worker  celery -A workers.app worker -E -Q healer.probe,healer.repair,healer.scale
#   beat    celery -A workers.app beat
#   events  python -m beat.events
#   api     uvicorn --factory healer.api.app:create_app --host 0.0.0.0 --port 8000
#   flower  celery -A workers.app flower --port=5555
#   CLI     healer status | healer check | healer repair SERVICE ...
#
# Without a command the image runs `healer run` (all four roles in one container), which is the
# supervisor's single-host mode and the docker-autoheal drop-in: started as root, the entrypoint
# (deploy/entrypoint.sh) joins the socket's group and drops to `healer`; without REDIS_URL it
# starts a Redis inside the container (Debian's redis-server, data in /data).
#
# Docker access: the image runs as the unprivileged user `healer` (uid/gid 10001). In the
# compose stack no role gets the socket: each reaches the engine through its socket proxy
# (DOCKER_HOST=tcp://docker-proxy-...:2375, deploy/socket-proxy/). With `docker run` and the
# socket instead, add the socket's group (`--group-add $(stat -c %g /var/run/docker.sock)`);
# socket access is root-equivalent on the host whatever the user inside is.

# Built by scripts/stack.sh (deploy/images/build.sh) without a registry or PyPI:
#   BASE_IMAGE  Debian bookworm with python3 and python3-venv (deploy/images/base.Dockerfile,
#               made from debootstrap)
#   .wheelhouse every dependency as a wheel, built on the host with `pip wheel`; nothing is
#               downloaded here (--no-index), so it builds behind a TLS-intercepting proxy or
#               air-gapped too.
ARG BASE_IMAGE=compose-healer/debian:bookworm

# --- build: a virtualenv with the package and its dependencies ------------------------------
FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INDEX=1 \
    PIP_FIND_LINKS=/wheels \
    PATH=/opt/venv/bin:$PATH
RUN python3 -m venv /opt/venv
WORKDIR /src

# Dependencies first, from the wheelhouse alone, so a source edit reuses this layer. Flower is
# a dev extra of the package; the image ships it so the same image runs the Flower service.
COPY .wheelhouse /wheels
RUN pip install /wheels/*.whl

# Then the package itself (non-editable: the runtime stage has no /src).
COPY pyproject.toml ./
COPY healer ./healer
COPY workers ./workers
COPY beat ./beat
RUN pip install --no-deps . \
    && python -c "import workers.app, beat.events, healer.api.app, flower"

# --- runtime: the virtualenv, an unprivileged user, the healthcheck -------------------------
FROM ${BASE_IMAGE} AS runtime
ARG HEALER_UID=10001
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HEALER_LOG_DIR=/var/log/healer \
    HEALER_API_HOST=0.0.0.0

# /var/log/healer is created owned by `healer` so a fresh named volume mounted there inherits
# that owner (Docker copies the image directory's ownership into an empty volume).
RUN groupadd --system --gid "${HEALER_UID}" healer \
    && useradd --system --uid "${HEALER_UID}" --gid healer --home-dir /app \
       --shell /usr/sbin/nologin healer \
    && mkdir -p /app /var/log/healer /data \
    && chown healer:healer /app /var/log/healer /data

# The built-in Redis of the one-container drop-in (used only when no REDIS_URL is given).
RUN apt-get update -q && apt-get install -y -q --no-install-recommends redis-server \
    && apt-get clean && rm -rf /var/lib/apt/lists/*

COPY --from=build /opt/venv /opt/venv
COPY deploy/healthcheck.py /usr/local/bin/healer-healthcheck
COPY deploy/entrypoint.sh /usr/local/bin/healer-entrypoint
RUN chmod 0755 /usr/local/bin/healer-healthcheck /usr/local/bin/healer-entrypoint

WORKDIR /app
# root only until the entrypoint drops to `healer` (compose runs every role as `healer` itself).
USER root
ENTRYPOINT ["healer-entrypoint"]
EXPOSE 8000 5555

# Role-aware: without an argument it finds the role from the running command. Compose sets
# the role explicitly per service and may tune the timings.
HEALTHCHECK --interval=30s --timeout=20s --start-period=30s --retries=3 \
    CMD ["healer-healthcheck"]

CMD ["healer", "run"]
