"""Repairs of a service's replicas that keep it available (the decisions are core/rollout)."""
