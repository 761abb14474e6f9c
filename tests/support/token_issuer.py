"""A registry token service (the distribution spec's Bearer token flow) on 127.0.0.1, for tests.

GET /token?service=S&scope=repository:NAME:pull,push with Basic credentials answers a JWT signed by
the test CA's key, holding only the scopes the user's grants cover; a wrong password is a 401.
The registry trusts it through `auth: token: rootcertbundle` (the CA certificate).
"""

import base64
import json
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from tests.support.pki import Authority

ISSUER = "test-token-issuer"
SERVICE = "test-registry"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenIssuer:
    ca: Authority
    users: dict[str, str]  # user -> password
    grants: dict[str, set[str]]  # user -> repository names the user may push and pull
    # How long a token is valid (its JWT `exp`). Clients treat any token as good for at least 60 s
    # (containers-image's floor), and the registry allows 60 s of clock skew past `exp`.
    lifetime: int = 300
    # Seconds this issuer's clock runs behind: its tokens say they were issued that long ago, in
    # their `iat`, `nbf` and `exp` and in the response's `issued_at`, which clients count from.
    clock_lag: int = 0
    port: int = 0
    issued: list[str] = field(default_factory=list)  # the scopes of every token handed out
    tokens: list[str] = field(default_factory=list)  # every token handed out, in order

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def now(self) -> int:
        return int(time.time()) - self.clock_lag

    def token(self, user: str, scopes: list[str], now: int) -> str:
        """A JWT issued at `now` (this issuer's clock) for the scopes `user` is granted."""
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind == "repository" and name in self.grants.get(user, set()):
                access.append({"type": "repository", "name": name, "actions": actions.split(",")})
        claims = {
            "iss": ISSUER,
            "sub": user,
            "aud": SERVICE,
            "exp": now + self.lifetime,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        header = {
            "typ": "JWT",
            "alg": "RS256",
            "x5c": [base64.b64encode(self.ca.certificate.public_bytes(serialization.Encoding.DER)).decode()],
        }
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = self.ca.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        self.issued.extend(f"{entry['name']}:{','.join(entry['actions'])}" for entry in access)
        self.tokens.append(f"{signing_input}.{_b64(signature)}")
        return self.tokens[-1]


@contextmanager
def token_issuer(
    ca: Authority, users: dict[str, str], grants: dict[str, set[str]], lifetime: int = 300, clock_lag: int = 0
) -> Iterator[TokenIssuer]:
    issuer = TokenIssuer(ca, users, grants, lifetime, clock_lag)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            user, password = "", ""
            header = self.headers.get("Authorization", "")
            if header.startswith("Basic "):
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if not user or issuer.users.get(user) != password:
                self.send_response(401)
                self.end_headers()
                return
            now = issuer.now()  # one instant for the JWT's iat and the response's issued_at
            token = issuer.token(user, query.get("scope", []), now)
            issued_at = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # RFC 3339
            body = json.dumps({"token": token, "expires_in": issuer.lifetime, "issued_at": issued_at}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    issuer.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield issuer
    finally:
        server.shutdown()
        server.server_close()
