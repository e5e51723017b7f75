"""The web interface: server-rendered pages over the same services and access rules as the
API, served by the same process under /ui."""
