"""A small client of the OCI distribution API: auth, retries, blob and manifest uploads.

Auth follows the registries' own flow: a 401 names the scheme (Basic, or Bearer with a token
service), and the credentials come from the same files podman and docker use.
"""

import base64
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

REPOSITORY = re.compile(r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$")
TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
TRANSIENT = {408, 429, 500, 502, 503, 504}
CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


class PushError(Exception):
    """A failure with a message that says what to fix."""


def split_reference(reference: str) -> tuple[str, str]:
    """'host[:port]/name' -> (host, name), checked against the distribution spec's grammar."""
    host, _, name = reference.partition("/")
    if not name or not ("." in host or ":" in host or host == "localhost"):
        raise PushError(f"repository {reference!r} must start with a registry host, e.g. 127.0.0.1:5000/{reference}")
    if not REPOSITORY.match(name):
        raise PushError(f"invalid repository name {name!r}: use lowercase letters, digits and . _ - / separators")
    return host, name


def check_tag(tag: str) -> str:
    if not TAG.match(tag):
        raise PushError(f"invalid tag {tag!r}: up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'")
    return tag


def stored_credentials(host: str) -> tuple[str, str] | None:
    """user/password for host from REGISTRY_AUTH_FILE, podman's auth.json or docker's config.json."""
    candidates = [os.environ.get("REGISTRY_AUTH_FILE", "")]
    if os.environ.get("XDG_RUNTIME_DIR"):
        candidates.append(os.path.join(os.environ["XDG_RUNTIME_DIR"], "containers/auth.json"))
    candidates.append(os.path.join(os.environ.get("DOCKER_CONFIG", os.path.expanduser("~/.docker")), "config.json"))
    for candidate in filter(None, candidates):
        path = Path(candidate)
        if not path.is_file():
            continue
        auths = json.loads(path.read_text()).get("auths", {})
        for key in (host, f"https://{host}", f"http://{host}", f"https://{host}/v2/"):
            if auths.get(key, {}).get("auth"):
                user, _, password = base64.b64decode(auths[key]["auth"]).decode().partition(":")
                return user, password
    return None


@dataclass
class Registry:
    host: str
    insecure: bool = False
    retries: int = 4
    credentials: tuple[str, str] | None = None
    sent_bytes: int = 0
    _authorization: str | None = field(default=None, repr=False)

    @property
    def base(self) -> str:
        return f"{'http' if self.insecure else 'https'}://{self.host}"

    def request(self, method: str, url: str, body: bytes | BinaryIO | None = None,
                headers: dict[str, str] | None = None, scope: str = "") -> urllib.request.addinfourl:
        """Sends one request, answering auth challenges and retrying transient failures."""
        url = url if url.startswith("http") else self.base + url
        for attempt in range(self.retries + 1):
            if hasattr(body, "seek"):
                body.seek(0)  # type: ignore[union-attr]
            req = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
            if self._authorization:
                req.add_header("Authorization", self._authorization)
            try:
                return urllib.request.urlopen(req, timeout=60)
            except urllib.error.HTTPError as error:
                if error.code == 401 and self._answer_challenge(error.headers.get("WWW-Authenticate", ""), scope):
                    continue
                if error.code in TRANSIENT and attempt < self.retries:
                    time.sleep(min(2**attempt, 10) * 0.5)
                    continue
                if error.code in (401, 403):
                    raise PushError(f"{self.host} refused the credentials for {method} {urllib.parse.urlsplit(url).path}: "
                                    "log in with 'podman login' (or set REGISTRY_AUTH_FILE)") from None
                detail = error.read().decode(errors="replace").strip()[:300]
                raise PushError(f"{self.host} answered {error.code} to {method} {urllib.parse.urlsplit(url).path}: {detail}") from None
            except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
                if attempt < self.retries:
                    time.sleep(min(2**attempt, 10) * 0.5)
                    continue
                reason = getattr(error, "reason", error)
                hint = " (plain-HTTP registry? pass --insecure)" if "SSL" in str(reason) or "ssl" in str(reason) else ""
                raise PushError(f"cannot reach the registry at {self.base}: {reason}{hint}") from None
        raise PushError(f"{self.host}: giving up on {method} {url} after {self.retries + 1} tries")

    def _answer_challenge(self, challenge: str, scope: str) -> bool:
        """Sets the Authorization header from a 401's challenge; False when there is nothing new to try."""
        if self._authorization or not self.credentials:
            if not self.credentials:
                raise PushError(f"{self.host} requires a login: run 'podman login {self.host}' or set REGISTRY_AUTH_FILE")
            return False
        user, password = self.credentials
        basic = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        scheme = challenge.split(" ", 1)[0].lower()
        if scheme == "basic":
            self._authorization = basic
            return True
        if scheme == "bearer":
            params = dict(CHALLENGE.findall(challenge))
            query = urllib.parse.urlencode({"service": params.get("service", ""), "scope": params.get("scope", scope)})
            token_request = urllib.request.Request(f"{params['realm']}?{query}", headers={"Authorization": basic})
            try:
                with urllib.request.urlopen(token_request, timeout=60) as answer:
                    token = json.load(answer)
            except urllib.error.HTTPError:
                raise PushError(f"{self.host}'s token service refused the credentials: log in again with 'podman login {self.host}'") from None
            self._authorization = "Bearer " + (token.get("token") or token["access_token"])
            return True
        return False

    def has_blob(self, name: str, digest: str) -> bool:
        try:
            with self.request("HEAD", f"/v2/{name}/blobs/{digest}", scope=f"repository:{name}:pull,push"):
                return True
        except PushError as error:
            if " 404 " in str(error):
                return False
            raise

    def upload_blob(self, name: str, digest: str, path: Path, chunk_size: int) -> None:
        """POST a session, then one PUT (small blobs) or PATCH chunks and a closing PUT."""
        scope = f"repository:{name}:pull,push"
        with self.request("POST", f"/v2/{name}/blobs/uploads/", body=b"", scope=scope) as answer:
            location = urllib.parse.urljoin(self.base, answer.headers["Location"])
        size = path.stat().st_size
        with open(path, "rb") as data:
            if size > chunk_size:
                for offset, chunk in _chunks(data, chunk_size):
                    headers = {"Content-Type": "application/octet-stream",
                               "Content-Range": f"{offset}-{offset + len(chunk) - 1}", "Content-Length": str(len(chunk))}
                    with self.request("PATCH", location, body=chunk, headers=headers, scope=scope) as answer:
                        location = urllib.parse.urljoin(self.base, answer.headers["Location"])
                    self.sent_bytes += len(chunk)
                final: bytes | BinaryIO = b""
            else:
                final = data
                self.sent_bytes += size
            separator = "&" if "?" in location else "?"
            headers = {"Content-Type": "application/octet-stream", "Content-Length": str(0 if final == b"" else size)}
            with self.request("PUT", f"{location}{separator}digest={digest}", body=final, headers=headers, scope=scope):
                pass

    def put_manifest(self, name: str, reference: str, content: bytes, media_type: str) -> str:
        self.sent_bytes += len(content)
        with self.request("PUT", f"/v2/{name}/manifests/{reference}", body=content,
                          headers={"Content-Type": media_type}, scope=f"repository:{name}:pull,push") as answer:
            return answer.headers.get("Docker-Content-Digest", "")


def _chunks(data: BinaryIO, size: int) -> Iterator[tuple[int, bytes]]:
    offset = 0
    while chunk := data.read(size):
        yield offset, chunk
        offset += len(chunk)
