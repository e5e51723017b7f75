"""Response: alerts raised by hunts (cases, tasks and assistance build on them)."""
