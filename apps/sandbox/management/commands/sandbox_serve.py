import socketserver

from django.core.management.base import BaseCommand
from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer
from django.core.wsgi import get_wsgi_application
from django.db import connections

PREFIX = "/sandbox/"


def sandbox_only(application):
    """A WSGI app that serves only /sandbox/ paths of ``application`` and answers 404 to everything else."""

    def app(environ, start_response):
        if not environ.get("PATH_INFO", "").startswith(PREFIX):
            body = b'{"message": "Only /sandbox/ is served here.", "extra": {}}'
            start_response("404 Not Found", [("Content-Type", "application/json"),
                                             ("Content-Length", str(len(body)))])
            return [body]
        return application(environ, start_response)

    return app


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            connections.close_all()  # one thread per request: leave no database connection behind


def make_sandbox_server(host: str = "127.0.0.1", port: int = 8100) -> WSGIServer:
    """A threaded WSGI server for the sandbox URLs (port 0: any free port; see ``server.server_port``)."""
    server = _ThreadingServer((host, port), WSGIRequestHandler, ipv6=":" in host)
    server.set_app(sandbox_only(get_wsgi_application()))
    return server


class Command(BaseCommand):
    help = "Serve the sandbox partners alone (only /sandbox/ URLs) on their own port, e.g. --port 8100."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8100)
        parser.add_argument("--host", default="127.0.0.1")

    def handle(self, *args, **options):
        server = make_sandbox_server(options["host"], options["port"])
        self.stdout.write(f"Sandbox partners on http://{options['host']}:{server.server_port}{PREFIX} (Ctrl-C stops)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
