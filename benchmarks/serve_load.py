"""Load benchmark of the CDS Hooks service: `bmdkb serve` on 127.0.0.1 under 1, 4 and 16 concurrent clients.

    python benchmarks/serve_load.py [--requests 10000] [--max-seconds 240] [--markdown FILE] [--json FILE]

The server runs as its own process, as in production (``bmdkb serve --workers N``: one process
answering HTTP, N evaluation workers; ``--workers`` here, default one per core; 1 evaluates in the
server's own process) and trusts the CDS Hooks specification's published test key; every request is a patient-view call
with the full prefetch of the shipped discordant case (tests/cds_bundle.py: 12 DXA Observations, a
Device, a MedicationStatement) and its own freshly signed ES384 JWT (a fresh jti each: the
service verifies every one), so what is timed is what an EHR's call costs. The tokens are signed
before each run, outside the timing. The clients are a minimal HTTP/1.1 keep-alive loader on
asyncio (one connection per client), so they take as little of the two cores as possible.

Bounded: ``--requests`` in all, split over the three concurrency levels (each at least 1,000),
and each level stops after ``--max-seconds`` whatever it has done. Loopback only. Every answer
must be 200 with the case's five cards: anything else is counted as an error.

Reported per level: requests per second, p50/p90/p99 latency seen by the client, and the
median of the server's own Server-Timing phases (check = JWT and body, gather, evaluate, cards,
wait = queued for a worker and the trip there and back). The machine's speed at the time is
reported as the best of three runs of a fixed pure-Python loop, so that runs on one machine can be
compared (the figures of a shared 2-core machine move by a factor of two from hour to hour).
The service's overhead is its p50 at one client minus the p50 of the same Bundle evaluated in
this process by ``evaluate_bundle`` (warm, same knowledge base). This is a benchmark, not a test.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import jwt
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))

import cds_bundle  # noqa: E402

from bmdkb.engine import api  # noqa: E402

SPEC = REPO / "tests" / "fixtures" / "cds-hooks-2.0.1"
ISS = "https://fhir-ehr.example.com/"
SERVICE = "bmdkb-discordant-bmd"
CASE = REPO / "knowledge" / "cases" / "spine-up-hip-down.yaml"
LEVELS = (1, 4, 16)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list, p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def machine_speed() -> float:
    """Seconds for a fixed pure-Python loop (3 million additions), best of three: lower is faster."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        total = 0
        for i in range(3_000_000):
            total += i
        best = min(best, time.perf_counter() - start)
    return round(best, 3)


def request_body() -> bytes:
    case = yaml.safe_load(CASE.read_text())
    body = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/bench", "patientId": "p1"}, "prefetch": cds_bundle.prefetch(case)}
    return json.dumps(body).encode()


def in_process(samples: int) -> dict:
    """evaluate_bundle on the same Bundle in this process: the floor of the service's latency."""
    from bmdkb.service import fhir

    kb = api.load_kb(REPO)
    evaluator = api.Evaluator(kb)
    case = yaml.safe_load(CASE.read_text())
    gathered = asyncio.run(fhir.gather(fhir.prefetch_keys([]), "p1", cds_bundle.prefetch(case), None, None, None))
    for _ in range(20):
        api.evaluate_bundle(evaluator, gathered.bundle, "bench", facility=cds_bundle.FACILITY)
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        api.evaluate_bundle(evaluator, gathered.bundle, "bench", facility=cds_bundle.FACILITY)
        times.append((time.perf_counter() - start) * 1000)
    return {"samples": samples, "p50_ms": statistics.median(times), "p99_ms": percentile(times, 99)}


class Server:
    """`bmdkb serve` on a free loopback port, trusting the spec's test key."""

    def __init__(self, folder: Path, workers: int):
        (folder / "facility.json").write_text(json.dumps(cds_bundle.FACILITY))
        (folder / "serve.yaml").write_text(yaml.safe_dump({"workers": workers,
            "issuers": {ISS: {"jwks_file": str(SPEC / "23-jwks.json")}},
            "facility": "facility.json", "feedback_store": "feedback.jsonl"}))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/cds-services/{SERVICE}"
        self.log = open(folder / "serve.log", "wb")
        self.process = subprocess.Popen([sys.executable, "-m", "bmdkb.cli.main", "serve", "--kb", str(REPO),
                                         "--config", str(folder / "serve.yaml"), "--host", "127.0.0.1",
                                         "--port", str(self.port)], stdout=self.log, stderr=subprocess.STDOUT,
                                        cwd=folder)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.1)
        raise SystemExit(f"bmdkb serve did not start (see {folder / 'serve.log'})")

    def close(self):
        self.process.terminate()
        self.process.wait(timeout=15)
        self.log.close()


def sign_tokens(count: int, aud: str) -> list:
    key = jwt.PyJWK.from_dict(json.loads((SPEC / "24-private-jwk.json").read_text())).key
    now = int(time.time())
    return [jwt.encode({"iss": ISS, "aud": aud, "iat": now, "exp": now + 600, "jti": str(uuid.uuid4())}, key,
                       algorithm="ES384", headers={"kid": "example-kid"}) for _ in range(count)]


async def one_client(port: int, path: str, body: bytes, tokens: list, deadline: float, results: list):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while tokens and time.monotonic() < deadline:
            token = tokens.pop()
            head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                    f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
            start = time.perf_counter()
            writer.write(head + body)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")   # one wait for the status line and headers
            status_line, *lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in lines:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            payload = await reader.readexactly(int(headers.get("content-length", "0")))
            elapsed = (time.perf_counter() - start) * 1000
            ok = status_line.split()[1:2] == ["200"] and payload.count(b'"uuid"') == 5
            results.append((elapsed, ok, headers.get("server-timing", "")))
    finally:
        writer.close()


def timing_phases(values: list) -> dict:
    phases: dict = {}
    for header in values:
        for part in header.split(","):
            name, _, duration = part.strip().partition(";dur=")
            if duration:
                phases.setdefault(name, []).append(float(duration))
    return {name: round(statistics.median(v), 2) for name, v in phases.items()}


def run_level(server: Server, clients: int, count: int, body: bytes, max_seconds: float) -> dict:
    tokens = sign_tokens(count, server.url)
    results: list = []
    path = f"/cds-services/{SERVICE}"

    async def main():
        deadline = time.monotonic() + max_seconds
        start = time.perf_counter()
        await asyncio.gather(*(one_client(server.port, path, body, tokens, deadline, results) for _ in range(clients)))
        return time.perf_counter() - start

    wall = asyncio.run(main())
    latencies = [r[0] for r in results]
    # per request: what the client waited minus what evaluation took inside the server (same request,
    # same moment, so other load on the machine slows both alike)
    beside = [r[0] - float(r[2].split("evaluate;dur=")[1].split(",")[0]) for r in results if "evaluate;dur=" in r[2]]
    return {"clients": clients, "requests": len(results), "errors": sum(1 for r in results if not r[1]),
            "seconds": round(wall, 1), "rps": round(len(results) / wall, 1),
            "p50_ms": round(percentile(latencies, 50), 1), "p90_ms": round(percentile(latencies, 90), 1),
            "p99_ms": round(percentile(latencies, 99), 1), "server_phases_p50_ms": timing_phases([r[2] for r in results]),
            "beside_evaluation_p50_ms": round(statistics.median(beside), 1) if beside else None}


def markdown(report: dict) -> str:
    floor = report["in_process"]
    lines = [f"Measured {report['when']} on {report['machine']} ({report['cores']} cores), Python {report['python']}, "
             f"`bmdkb serve --workers {report['workers']}`; {report['total_requests']} requests, "
             f"{report['total_errors']} errors; machine speed {report['machine_speed_s'][0]} s before, "
             f"{report['machine_speed_s'][1]} s after (the fixed loop: lower is faster).", "",
             "| clients | requests | req/s | p50 ms | p90 ms | p99 ms | server p50: check / gather / evaluate / cards / wait / total ms "
             "| p50 of latency minus the request's own evaluation, ms |",
             "|---|---|---|---|---|---|---|---|"]
    for level in report["levels"]:
        phases = level["server_phases_p50_ms"]
        lines.append(f"| {level['clients']} | {level['requests']} | {level['rps']} | {level['p50_ms']} | {level['p90_ms']} "
                     f"| {level['p99_ms']} | {phases.get('check')} / {phases.get('gather')} / {phases.get('evaluate')} / "
                     f"{phases.get('cards')} / {phases.get('wait')} / {phases.get('total')} "
                     f"| {level['beside_evaluation_p50_ms']} |")
    lines += ["", f"In-process `evaluate_bundle` of the same Bundle: p50 {floor['p50_ms']:.1f} ms (before the load "
              f"{floor['p50_before_ms']:.1f}, after {floor['p50_after_ms']:.1f}), p99 {floor['p99_ms']:.1f} ms "
              f"({floor['samples']} runs). Service overhead at one client (p50 minus the in-process p50): "
              f"**{report['overhead_p50_ms']:.1f} ms**; per request, latency minus that request's own evaluation "
              f"inside the server: **{report['levels'][0]['beside_evaluation_p50_ms']} ms** (p50)."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=10_000, help="requests in all, over the three levels")
    parser.add_argument("--max-seconds", type=float, default=240, help="the most any one level may run")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="`bmdkb serve --workers` (default: one per core)")
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    per_level = max(1000, -(-args.requests // len(LEVELS)))   # rounded up: at least --requests in all
    speed_before = machine_speed()
    before = in_process(500)
    body = request_body()
    with tempfile.TemporaryDirectory() as folder:
        server = Server(Path(folder), args.workers)
        try:
            run_level(server, 1, 100, body, 30)   # warm-up, not reported
            levels = []
            for clients in LEVELS:
                level = run_level(server, clients, per_level, body, args.max_seconds)
                levels.append(level)
                print(json.dumps(level), flush=True)
        finally:
            server.close()
    after = in_process(500)
    speed_after = machine_speed()
    floor = {"samples": before["samples"] + after["samples"],
             "p50_ms": statistics.median([before["p50_ms"], after["p50_ms"]]),
             "p99_ms": max(before["p99_ms"], after["p99_ms"]),
             "p50_before_ms": before["p50_ms"], "p50_after_ms": after["p50_ms"]}
    report = {
        "when": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": platform.machine(),
        "cores": os.cpu_count(), "python": platform.python_version(), "workers": args.workers,
        "machine_speed_s": [speed_before, speed_after], "in_process": floor, "levels": levels,
        "total_requests": sum(level["requests"] for level in levels),
        "total_errors": sum(level["errors"] for level in levels),
        "overhead_p50_ms": levels[0]["p50_ms"] - floor["p50_ms"],
    }
    text = markdown(report)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
