"""TAXII 2.1 server: collections over the intel store, stored STIX objects, POST status."""
