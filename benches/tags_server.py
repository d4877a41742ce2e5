"""Loopback tags/list server for benchmarks: 5,000 tags for
/v2/<ns>/kubernetes, served 100 a page with Link headers like Docker Hub;
other repositories are empty. Prints its port, serves until killed."""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

TAGS = [f"v1.{m}.{p}-4.{s}.0" for m in range(10, 60) for p in range(20) for s in range(5)][:5000]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urlparse(self.path)
        query = parse_qs(url.query)
        if not url.path.endswith("/kubernetes/tags/list"):
            body = json.dumps({"name": url.path, "tags": []}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        last = query.get("last", [None])[0]
        start = TAGS.index(last) + 1 if last else 0
        page = TAGS[start:start + 100]
        body = json.dumps({"name": "kubernetes", "tags": page}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if start + 100 < len(TAGS):
            self.send_header("Link", f'<{url.path}?n=100&last={page[-1]}>; rel="next"')
        self.end_headers()
        self.wfile.write(body)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
sys.stdout.close()
server.serve_forever()
