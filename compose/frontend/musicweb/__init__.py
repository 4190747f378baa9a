"""musicapp's frontend: server-rendered pages whose scripts call the API."""
from .pages import create_app

__all__ = ["create_app"]
