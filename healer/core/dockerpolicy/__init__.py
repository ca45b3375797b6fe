"""What the worker's Docker proxy lets through: pure decisions on one request.

The worker may only make more of what exists (a create that clones a container of the same
managed compose service) and act on managed containers. The proxy (healer.adapters.
dockerproxy) reads the engine and forwards; every rule is here, tested without an engine.
"""
