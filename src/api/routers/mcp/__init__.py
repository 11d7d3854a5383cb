"""The MCP endpoint: sessions, event streams, tools, and the `/mcp` router."""

from .event_publisher import EventPublisher
from .mcp import McpLimits, create_mcp_router
from .mcp_server import McpToolServer
from .session_manager import SessionManager

__all__ = ["EventPublisher", "McpLimits", "McpToolServer", "SessionManager", "create_mcp_router"]
