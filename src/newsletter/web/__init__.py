"""The HTTP face of the service: `create_app(settings)` builds it."""

from newsletter.web.app import create_app

__all__ = ["create_app"]
