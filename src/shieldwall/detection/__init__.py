"""Detection: sensor exports and hunting indicators in network telemetry."""
