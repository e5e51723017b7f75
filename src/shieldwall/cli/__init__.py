"""The `shieldwall` command."""
