"""The operator's operations (pause, resume, reset, scale) and the bodies that report them,
shared by the HTTP API and the CLI so both act and answer the same way."""
