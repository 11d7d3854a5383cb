"""The gateway application package."""
