"""GET /health: whether this replica can reach PostgreSQL."""
from flask import Blueprint

from ..db import get_db
from ..responses import success

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():
    # An unreachable database raises OperationalError, which errors.py turns
    # into 503 {"status": "fail", "message": "database unavailable"}.
    get_db().ping()
    return success({"database": "ok"})
