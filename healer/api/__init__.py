"""The HTTP API role: `uvicorn --factory healer.api.app:create_app`."""
