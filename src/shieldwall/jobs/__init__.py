"""Background work that runs inside the server process (scheduled feed fetching, the
indicator expiry pass)."""
