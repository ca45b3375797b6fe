"""docker-autoheal compatibility: what its users' settings expect besides the selector."""
