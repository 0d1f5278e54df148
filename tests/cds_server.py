"""Test helpers for the CDS Hooks service: `bmdkb serve` as a real process on 127.0.0.1, a small FHIR
server stub (also serving a key set for `jku`), and JWTs signed with the CDS Hooks specification's
published test key (24-private-jwk.json, copied verbatim to tests/fixtures/cds-hooks-2.0.1/)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt

EXTERNAL = Path(__file__).resolve().parent / "fixtures" / "cds-hooks-2.0.1"   # verbatim copies (SOURCES.md)
SPEC_ISS = "https://fhir-ehr.example.com/"
SANDBOX_ISS = "https://sandbox.cds-hooks.org"
SERVICE_ID = "bmdkb-discordant-bmd"


def spec_example(name: str):
    """One JSON example of the CDS Hooks 2.0.1 specification, as published."""
    return json.loads((EXTERNAL / name).read_text(encoding="utf-8"))


def spec_private_key():
    """The specification's test private key (ES384, kid example-kid)."""
    return jwt.PyJWK.from_dict(spec_example("24-private-jwk.json")).key


def free_port() -> int:
    """A port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def token(aud: str, key=None, alg: str = "ES384", iss: str = SPEC_ISS, kid: str | None = "example-kid",
          lifetime: int = 300, iat: int | None = None, jti: str | None = None, headers: dict | None = None,
          **claims) -> str:
    """A CDS client's JWT for a call of ``aud`` (by default signed with the spec's test key)."""
    now = int(time.time()) if iat is None else iat
    payload = {"iss": iss, "aud": aud, "iat": now, "exp": now + lifetime, "jti": jti or str(uuid.uuid4()), **claims}
    head = dict(headers or {})
    if kid is not None:
        head["kid"] = kid
    return jwt.encode(payload, key if key is not None else spec_private_key(), algorithm=alg, headers=head)


class FhirStub:
    """A FHIR server on 127.0.0.1 holding one patient's resources, recording every request.

    ``fail``: resource type -> HTTP status to answer instead; ``override``: resource type -> (status,
    body) to answer instead; ``jwks``: served at /jwks.json."""

    def __init__(self, data: dict, patient_id: str, jwks: dict | None = None):
        self.data = data
        self.patient_id = patient_id
        self.jwks = jwks
        self.fail: dict = {}
        self.override: dict = {}
        self.requests: list = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):   # quiet
                pass

            def do_GET(self):
                parts = urlsplit(self.path)
                stub.requests.append((parts.path, parse_qs(parts.query), self.headers.get("Authorization")))
                status, body = stub.answer(parts.path, parse_qs(parts.query))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, path: str, query: dict):
        from cds_bundle import searchset

        if path == "/jwks.json" and self.jwks is not None:
            return 200, self.jwks
        kind = path.strip("/").split("/")[0]
        if kind in self.fail:
            return self.fail[kind], {"resourceType": "OperationOutcome", "issue": [{"severity": "error"}]}
        if kind in self.override:
            return self.override[kind]
        found = self.data
        if path == f"/Patient/{self.patient_id}":
            return 200, found["patient"]
        if path.startswith("/Device/"):
            device = next((d for d in found["devices"] if d["id"] == path.rsplit("/", 1)[1]), None)
            return (200, device) if device else (404, {"resourceType": "OperationOutcome"})
        if query.get("patient") != [self.patient_id]:
            return 200, searchset([])
        if kind == "Observation":
            codes = {c.split("|")[-1] for c in query.get("code", [""])[0].split(",")}
            return 200, searchset([o for o in found["observations"] if o["code"]["coding"][0]["code"] in codes])
        if kind == "MedicationStatement":
            return 200, searchset(found["medications"])
        if kind in ("MedicationRequest", "Condition"):
            return 200, searchset([])
        return 404, {"resourceType": "OperationOutcome"}

    def paths(self) -> list:
        """The paths requested so far."""
        return [p for p, _, _ in self.requests]

    def close(self):
        """Stop the server."""
        self.server.shutdown()
        self.server.server_close()


class ServerProcess:
    """`bmdkb serve ARGS` started as a process on 127.0.0.1, its log kept, stopped on close."""

    def __init__(self, args: list, cwd: Path, env: dict | None = None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = cwd / f"serve-{self.port}.log"
        self.log = open(self.log_path, "wb")
        environment = dict(os.environ, **(env or {}))
        self.process = subprocess.Popen([sys.executable, "-m", "bmdkb.cli.main", "serve", "--host", "127.0.0.1",
                                         "--port", str(self.port), *args],
                                        cwd=cwd, stdout=self.log, stderr=subprocess.STDOUT, env=environment)
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"bmdkb serve exited {self.process.returncode}: {self.log_text()}")
            try:
                if httpx.get(f"{self.base}/cds-services", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"bmdkb serve did not start: {self.log_text()}")
            time.sleep(0.1)
        self.client = httpx.Client(base_url=self.base, timeout=30)

    def url(self, path: str = f"/cds-services/{SERVICE_ID}") -> str:
        """The absolute URL of ``path`` on this server (what a JWT's aud must be)."""
        return self.base + path

    def call(self, body, jwt_token: str | None = "sign", path: str = f"/cds-services/{SERVICE_ID}", **kwargs):
        """POST ``body`` to ``path``, with a fresh signed JWT unless ``jwt_token`` is given (or None)."""
        headers = dict(kwargs.pop("headers", {}))
        if jwt_token == "sign":
            jwt_token = token(self.url(path))
        if jwt_token is not None:
            headers["Authorization"] = f"Bearer {jwt_token}"
        if isinstance(body, (bytes, str)):
            return self.client.post(path, content=body, headers={"Content-Type": "application/json", **headers},
                                    **kwargs)
        return self.client.post(path, json=body, headers=headers, **kwargs)

    def log_text(self) -> str:
        """Everything the server logged so far."""
        self.log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        """The process runs and answers discovery."""
        return self.process.poll() is None and self.client.get("/cds-services").status_code == 200

    def close(self):
        """Stop the server (SIGTERM; it finishes requests in flight) and wait for it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
