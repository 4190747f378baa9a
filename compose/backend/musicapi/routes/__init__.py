"""The API's blueprints, one module per resource."""
from . import albums, authentications, health, playlists, songs, users

BLUEPRINTS = (health.bp, users.bp, authentications.bp, albums.bp, songs.bp, playlists.bp)


def register_routes(app):
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
