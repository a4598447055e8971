#!/usr/bin/env python3
"""Checks that Yagura's REST API and its OpenAPI document agree.

Starts a real `yagura serve` on an empty data directory, makes the first
admin and an API key, then runs schemathesis against
/api/v1/openapi.json: generated requests (valid and invalid) for every
operation, each answer checked for a server error, an undocumented status,
a wrong content type, a body that does not match its schema, or invalid
input that was accepted. Bounded: a few examples per operation.

Usage: check.py path/to/yagura [extra schemathesis arguments]
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=10) as res:
        return json.loads(res.read() or b"null")


def wait_for(what, check, secs=60):
    deadline = time.time() + secs
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.2)
    sys.exit("timed out waiting for " + what)


def seed(base, key):
    """Real things to read, so that answers with runs, events, issues and
    workflow histories in them are checked against their schemas too
    (schemathesis finds their ids in the lists)."""
    agent = next(a for a in call(base, "GET", "/api/v1/agents", token=key)
                 if a["name"] == "Demo agent")
    run = call(base, "POST", "/api/v1/executions",
               {"agentId": agent["id"], "prompt": "seed"}, key)
    wait_for("the seeded run", lambda: call(
        base, "GET", f"/api/v1/executions/{run['id']}", token=key
    )["status"] == "completed")
    repo = call(base, "POST", "/api/v1/repositories", {"name": "seeded"}, key)
    issue = call(base, "POST", "/api/v1/issues",
                 {"repositoryId": repo["id"], "title": "Seeded issue",
                  "labels": ["bug"], "assignee": "admin"}, key)
    flow = call(base, "POST", "/api/v1/workflows", {
        "name": "Seeded",
        "definition": {"stages": [{"name": "Only", "steps": [
            {"key": "demo", "agentId": agent["id"], "prompt": "{issue.title}"}]}]},
    }, key)
    started = call(base, "POST", f"/api/v1/workflows/{flow['id']}/runs",
                   {"issueId": issue["id"]}, key)
    wait_for("the seeded workflow run", lambda: call(
        base, "GET", f"/api/v1/workflow-runs/{started['id']}", token=key
    )["status"] == "completed")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    yagura = os.path.abspath(sys.argv[1])
    extra = sys.argv[2:]
    st = os.path.join(os.path.dirname(sys.executable), "st")
    data = tempfile.mkdtemp(prefix="yagura-api-check-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(os.path.join(data, "server.log"), "w")
    server = subprocess.Popen(
        [yagura, "serve", "--addr", f"127.0.0.1:{port}", "--data-dir", data,
         "--github-poll-secs", "0", "--concurrency", "2"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(200):
            try:
                call(base, "GET", "/healthz")
                break
            except OSError:
                if server.poll() is not None:
                    sys.exit("yagura exited; see " + log.name)
                time.sleep(0.1)
        admin = call(base, "POST", "/api/v1/setup",
                     {"username": "admin", "password": "schemathesis-admin-pw"})
        # An API key, not the session token: `POST /auth/logout` with
        # generated bodies must not sign the checker out half way.
        key = call(base, "POST", "/api/v1/api-keys", {"name": "schemathesis"},
                   admin["token"])["key"]
        seed(base, key)
        cmd = [
            st, "run", base + "/api/v1/openapi.json",
            "--url", base,
            "--header", "Authorization: Bearer " + key,
            # Stateful testing would chain what it made (an agent, then a
            # run of it): random commands run as real processes. Not here.
            "--phases", "examples,coverage,fuzzing",
            # The key above is the credential; generated ones would only
            # test the refusal (401), which the integration tests cover.
            "--generation-with-security-parameters", "false",
            "--checks", "not_a_server_error,status_code_conformance,"
                        "content_type_conformance,response_schema_conformance,"
                        "response_headers_conformance,negative_data_rejection",
            # It would learn the key's id from GET /api-keys and revoke it,
            # leaving the rest of the run signed out.
            "--exclude-path-regex", r"^/api/v1/api-keys/\{id\}$",
            "--max-examples", os.environ.get("API_CHECK_EXAMPLES", "25"),
            "--seed", os.environ.get("API_CHECK_SEED", "1"),
            # One worker: hypothesis has failed on its own (not on Yagura) with two.
            "--workers", "1",
            "--request-timeout", "20",
            "--no-color",
            "--continue-on-failure",
        ] + extra
        print("+", " ".join(c if "Bearer" not in c else "Authorization: Bearer …" for c in cmd), flush=True)
        # In the data directory: schemathesis keeps a cache where it runs.
        code = subprocess.call(cmd, cwd=data)
        if code != 0:
            print("server log: " + log.name, file=sys.stderr)
            sys.exit(code)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
    shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
