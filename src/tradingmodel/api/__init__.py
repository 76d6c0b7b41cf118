"""The backend: FastAPI REST routes and a WebSocket of events over the store (see ``docs/api.md``).

``create_app(ApiConfig(...))`` builds the app; ``tradingmodel serve`` runs it with uvicorn.
"""

from tradingmodel.api.app import ApiConfig, create_app

__all__ = ["ApiConfig", "create_app"]
