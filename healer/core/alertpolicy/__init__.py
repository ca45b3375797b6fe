"""What an alert may make the healer do: the per-service allowlist of alert actions."""
