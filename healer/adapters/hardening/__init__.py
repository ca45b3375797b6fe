"""Process-level hardening every healer role applies to itself."""
