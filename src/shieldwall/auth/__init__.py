"""Organisations, users, roles, permissions, API keys and sessions."""
