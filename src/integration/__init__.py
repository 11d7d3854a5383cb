"""Assembling the gateway's ASGI applications from its components."""

from .app_integration import Gateway, build_api_app, build_gateway

__all__ = ["Gateway", "build_api_app", "build_gateway"]
