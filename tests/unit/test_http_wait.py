"""wait_for: one answer that passes is enough by default; with in_a_row it
needs that many one after another, and says which answer broke the streak."""
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from lab.checks import http


@pytest.fixture
def server():
    """127.0.0.1 answering the statuses in `server.statuses` in turn, then 200."""
    statuses = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(statuses.pop(0) if statuses else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    httpd.statuses = statuses
    httpd.url = f"http://127.0.0.1:{httpd.server_port}/health"
    yield httpd
    httpd.shutdown()


def test_one_passing_answer_is_enough_by_default(server):
    server.statuses.extend([502, 200, 502])
    assert http.wait_for(server.url, 10).status == 200
    assert server.statuses == [502]  # it stopped at the first 200


def test_a_streak_starts_again_after_a_refused_answer(server):
    server.statuses.extend([200, 502, 200, 200, 200])
    assert http.wait_for(server.url, 10, in_a_row=3).status == 200
    assert server.statuses == []  # the 502 reset the count: all five were asked


def test_on_time_out_the_answer_that_broke_the_streak(server):
    server.statuses.extend([200, 503] + [200] * 100)
    answer = http.wait_for(server.url, 1.5, in_a_row=50)
    assert answer is not None and answer.status == 503
