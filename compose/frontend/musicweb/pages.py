"""The Flask app. Pages carry no user data: the login state lives in the
browser's localStorage, so the server renders the same page for everyone and
the scripts fill it in from the API."""
from flask import Flask, render_template, request

from .settings import load_settings


def create_app(settings=None):
    """Build the app; without settings, read them from the .env file now, so a
    bad .env stops the server at start rather than at the first request."""
    settings = settings or load_settings()
    app = Flask(__name__)

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
