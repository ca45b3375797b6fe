"""The healer's own Prometheus series: counters in Redis, telemetry, the scrape-time collector."""
