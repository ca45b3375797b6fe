# Redis, Prometheus, Alertmanager, the Docker socket proxy (HAProxy), the exporters and the
# demo's PostgreSQL, each from Debian's own package on the stack's base image: one target per
# image (`docker build --target redis ...`, deploy/images/build.sh). Each follows the official
# image's conventions (binary on the same entrypoint, user, data directory), so docker-compose.yml
# runs either; .env picks the image names.
ARG BASE_IMAGE=compose-healer/debian:bookworm

FROM ${BASE_IMAGE} AS redis
RUN apt-get update -q && apt-get install -y -q redis-server \
    && apt-get clean && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /data && chown redis:redis /data
WORKDIR /data
USER redis
EXPOSE 6379
CMD ["redis-server"]

FROM ${BASE_IMAGE} AS prometheus
# wget: the compose healthcheck (the official image has busybox's).
RUN apt-get update -q && apt-get install -y -q prometheus wget \
    && apt-get clean && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /prometheus /etc/prometheus && chown nobody:nogroup /prometheus
USER nobody
WORKDIR /prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]

FROM ${BASE_IMAGE} AS alertmanager
RUN apt-get update -q && apt-get install -y -q prometheus-alertmanager wget \
    && apt-get clean && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /alertmanager && chown nobody:nogroup /alertmanager
USER nobody
WORKDIR /alertmanager
EXPOSE 9093
ENTRYPOINT ["/usr/bin/prometheus-alertmanager"]
CMD ["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager"]

FROM ${BASE_IMAGE} AS socket-proxy
RUN apt-get update -q && apt-get install -y -q haproxy \
    && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY deploy/socket-proxy/*.cfg /etc/haproxy/socket-proxy/
USER nobody
EXPOSE 2375
# The level (readonly | worker) is the second config file; docker-compose.yml picks it.
CMD ["haproxy", "-db", "-f", "/etc/haproxy/socket-proxy/common.cfg", "-f", "/etc/haproxy/socket-proxy/readonly.cfg"]

FROM ${BASE_IMAGE} AS redis-exporter
RUN apt-get update -q && apt-get install -y -q prometheus-redis-exporter \
    && apt-get clean && rm -rf /var/lib/apt/lists/*
USER nobody
EXPOSE 9121
ENTRYPOINT ["/usr/bin/prometheus-redis-exporter"]

FROM ${BASE_IMAGE} AS postgres
ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
RUN apt-get update -q && apt-get install -y -q postgresql-15 postgresql-client-15 \
    && apt-get clean && rm -rf /var/lib/apt/lists/* \
    && mkdir -p "$PGDATA" /var/run/postgresql \
    && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
COPY deploy/images/postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
USER postgres
EXPOSE 5432
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]

FROM ${BASE_IMAGE} AS postgres-exporter
RUN apt-get update -q && apt-get install -y -q prometheus-postgres-exporter \
    && apt-get clean && rm -rf /var/lib/apt/lists/*
USER nobody
EXPOSE 9187
ENTRYPOINT ["/usr/bin/prometheus-postgres-exporter"]
