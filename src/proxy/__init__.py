"""The gateway's reverse proxy: request handling and the rules it applies to each request."""
