"""The HTTP API's routers."""
