"""The worker's Docker proxy: an HTTP server in front of the engine's socket that forwards
only what healer.core.dockerpolicy allows, reading the engine to decide.

Run it with `python -m healer.adapters.dockerproxy` (env: HEALER_PROXY_BIND,
HEALER_PROXY_SOCKET, HEALER_PROXY_MAX_BODY, HEALER_PROJECTS).
"""
