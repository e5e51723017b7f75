"""Detection: sensor exports; hunt: log readers, indicator index, matchers."""
