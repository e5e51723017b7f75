"""Shieldwall: a collective cyber-defence platform for alliances of CERTs and SOCs."""

__version__ = "0.1.0"
