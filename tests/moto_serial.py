"""moto's server, applying one request at a time, as the AWS services it stands in for do.

`moto_server` serves requests on threads, and its DynamoDB backend takes no lock: under
concurrency a conditional write or a `TransactWriteItems` is not atomic there the way it is on
DynamoDB (two writers conditioned on the same version can both succeed). A contention test
against it would then pass or fail by luck. This launcher serves moto's own WSGI application
behind one lock, so that every request is applied whole (its response body included) before
the next begins, while connections are still accepted and read concurrently.

One request cannot hold the lock while it waits: an SQS long poll (`ReceiveMessage` with
`WaitTimeSeconds` > 0, in the JSON protocol the AWS SDKs use) would stall every other client for
up to 20 s. It is answered as SQS does, by short polls under the lock until a message is there
or the wait is over. (A long poll in the older query protocol, or one left to a queue's default
wait, would still hold the lock: atende's code and tests make neither.)

    python3 tests/moto_serial.py -H 127.0.0.1 -p PORT
"""

import argparse
import io
import json
import signal
import sys
import threading
import time

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple

POLL_INTERVAL_S = 0.02


class Serialized:
    """A WSGI application that runs `app` for one request at a time."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ.get("wsgi.input_terminated"):
            # A chunked body: the server ends the stream.
            body = environ["wsgi.input"].read()
        else:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length > 0 else b""
        wait = long_poll_seconds(environ, body)
        if wait is None:
            status, headers, chunks = self.once(environ, body)
        else:
            status, headers, chunks = self.poll(environ, body, wait)
        start_response(status, headers)
        return [chunks]

    def once(self, environ, body):
        """Runs the application on `body` under the lock; returns the whole response."""
        environ = dict(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("wsgi.input_terminated", None)
        answer = {}
        written = []

        def capture(status, headers, exc_info=None):
            answer["status"], answer["headers"] = status, headers
            return written.append

        with self.lock:
            result = self.app(environ, capture)
            try:
                chunks = b"".join(written) + b"".join(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
        return answer["status"], answer["headers"], chunks

    def poll(self, environ, body, wait):
        """A long poll as a series of short polls, each applied under the lock."""
        request = json.loads(body)
        request["WaitTimeSeconds"] = 0
        short = json.dumps(request).encode()
        deadline = time.monotonic() + wait
        while True:
            status, headers, chunks = self.once(environ, short)
            if not status.startswith("200") or has_messages(chunks):
                return status, headers, chunks
            if time.monotonic() >= deadline:
                return status, headers, chunks
            time.sleep(POLL_INTERVAL_S)


def long_poll_seconds(environ, body):
    """The wait of an SQS `ReceiveMessage` in the JSON protocol, when it is a long poll."""
    if environ.get("HTTP_X_AMZ_TARGET") != "AmazonSQS.ReceiveMessage":
        return None
    try:
        wait = int(json.loads(body).get("WaitTimeSeconds") or 0)
    except (ValueError, AttributeError):
        return None
    return wait if wait > 0 else None


def has_messages(chunks):
    try:
        return bool(json.loads(chunks or b"{}").get("Messages"))
    except ValueError:
        return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        args.host,
        args.port,
        Serialized(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
