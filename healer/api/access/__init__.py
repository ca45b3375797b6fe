"""Who may call which route of the API: tokens, the Host check, and the cost of reads."""
