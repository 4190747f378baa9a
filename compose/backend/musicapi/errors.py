"""Client errors as exceptions, and the handlers that turn every error into JSON."""
import logging

import psycopg2
from flask import jsonify
from werkzeug.exceptions import HTTPException, MethodNotAllowed

log = logging.getLogger(__name__)


class ApiError(Exception):
    status_code = 400

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class InvalidInput(ApiError):
    status_code = 400


class Unauthenticated(ApiError):
    status_code = 401


class Forbidden(ApiError):
    status_code = 403


class NotFound(ApiError):
    status_code = 404


class ServiceBusy(ApiError):
    status_code = 503


# Werkzeug's own errors (routing, body too large, ...) keep their status with
# a short message of ours instead of an HTML page.
HTTP_MESSAGES = {
    400: "bad request",
    404: "resource not found",
    405: "method not allowed",
    413: "request body too large",
}


def fail(message, status_code):
    response = jsonify({"status": "fail", "message": message})
    response.status_code = status_code
    return response


def register_error_handlers(app):
    app.register_error_handler(ApiError, _handle_api_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    # InterfaceError: a connection that died under a request (its rollback
    # fails too); the next request gets a fresh one.
    app.register_error_handler(psycopg2.OperationalError, _handle_database_unavailable)
    app.register_error_handler(psycopg2.InterfaceError, _handle_database_unavailable)
    app.register_error_handler(Exception, _handle_unexpected)


def _handle_api_error(error):
    response = fail(error.message, error.status_code)
    if isinstance(error, ServiceBusy):
        response.headers["Retry-After"] = "1"
    return response


def _handle_http_exception(error):
    if error.code is not None and error.code >= 500:
        return _handle_unexpected(error)
    response = fail(HTTP_MESSAGES.get(error.code, error.name.lower()), error.code)
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def _handle_database_unavailable(error):
    log.warning("database unavailable: %s", str(error).strip())
    return fail("database unavailable", 503)


def _handle_unexpected(error):
    # The traceback goes to the log only: a client never sees internals.
    log.error("unexpected error", exc_info=error)
    response = jsonify({"status": "error", "message": "internal server error"})
    response.status_code = 500
    return response
