"""compose-healer: Kubernetes-grade self-healing and autoscaling for Docker Compose stacks."""

__version__ = "0.1.0"
