"""The Flask app. Pages carry no user data: the login state lives in the
browser's localStorage, so the server renders the same page for everyone and
the scripts fill it in from the API."""
from urllib.parse import urlsplit

from flask import Flask, render_template, request

from .settings import load_settings


def content_security_policy(api_endpoint):
    """Scripts, styles and images from this origin only (the pages have no
    inline ones), fetch() to the API's origin only, and no page of ours in a
    frame: an injected script could neither run nor send tokens elsewhere."""
    parts = urlsplit(api_endpoint)
    api_origin = f"{parts.scheme}://{parts.netloc}"
    return "; ".join((
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        f"connect-src {api_origin}",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ))


def create_app(settings=None):
    """Build the app; without settings, read them from the .env file now, so a
    bad .env stops the server at start rather than at the first request."""
    settings = settings or load_settings()
    app = Flask(__name__)
    policy = content_security_policy(settings.api_endpoint)

    @app.after_request
    def security_headers(response):
        response.headers["Content-Security-Policy"] = policy
        response.headers["X-Content-Type-Options"] = "nosniff"
        # The pages' URLs carry nothing secret, but the API need not learn them.
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @app.context_processor
    def inject_settings():
        return {"app_name": settings.app_name, "api_endpoint": settings.api_endpoint}

    @app.get("/login")
    def login():
        return render_template("login.html", registered="registered" in request.args)

    @app.get("/register")
    def register():
        return render_template("register.html")

    @app.get("/")
    def home():
        return render_template("home.html")

    @app.get("/health")
    def health():
        return "ok\n", 200, {"Content-Type": "text/plain; charset=utf-8"}

    return app
