"""The success envelope shared by every route."""
from flask import jsonify


def success(data=None, message=None, status_code=200):
    body = {"status": "success"}
    if message is not None:
        body["message"] = message
    if data is not None:
        body["data"] = data
    response = jsonify(body)
    response.status_code = status_code
    return response
