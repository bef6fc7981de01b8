"""REST service: FastAPI app, API-key auth, privacy-preserving storage of user data."""

from driftrec.service.app import create_app

__all__ = ["create_app"]
