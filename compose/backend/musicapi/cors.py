"""CORS for the browser-side frontend, which calls the API from another origin.

Any origin is allowed: the API authenticates with a Bearer header, never with
cookies, so a foreign page gains nothing a script could not do directly.
"""
from flask import current_app, request

ALLOWED_HEADERS = "Authorization, Content-Type"
ALLOWED_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
PREFLIGHT_MAX_AGE = "600"


def register_cors(app):
    # Registered before any other before_request hook, so that a preflight is
    # answered on every path without touching the database.
    app.before_request(_answer_preflight)
    app.after_request(_add_cors_headers)


def _answer_preflight():
    if request.method == "OPTIONS":
        return current_app.response_class(status=204)
    return None


def _add_cors_headers(response):
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
    response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
    response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    return response
