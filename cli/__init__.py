"""The `metering` command: the front door to every role and tool."""
