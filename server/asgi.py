"""Entry point for ASGI servers: `uvicorn --factory server.asgi:create` (settings from EHOME_*)."""

from starlette.applications import Starlette

from server import logs
from server.app import create_app
from server.settings import load_settings


def create() -> Starlette:
    settings = load_settings()
    logs.configure(settings.log_level, settings.log_format)
    return create_app(settings)
