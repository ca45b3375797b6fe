"""The Redis side: the connection, every key, the guard, history, requests and state stores."""
