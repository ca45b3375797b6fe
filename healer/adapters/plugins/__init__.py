"""Users' repair strategies: discovery of entry points and the child process that runs one."""
