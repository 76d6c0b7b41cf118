"""Errors of the use cases: a message for the user and what kind of problem it is."""

from __future__ import annotations


class ServiceError(ValueError):
    """A problem with the request the user can act on; ``status`` is the matching HTTP status."""

    status = 422


class Invalid(ServiceError):
    """The input is malformed or out of range (HTTP 422)."""

    status = 422


class NotFound(ServiceError):
    """The symbol, model, session or job does not exist (HTTP 404)."""

    status = 404


class Conflict(ServiceError):
    """The request is valid but the current state does not allow it (HTTP 409)."""

    status = 409
