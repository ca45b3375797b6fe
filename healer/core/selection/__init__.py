"""Selection: which containers the healer manages (compose services and plain containers)."""
