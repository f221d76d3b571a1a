"""Three hosts, as an operator runs them: network namespaces joined by a bridge, tcp + CurveZMQ.

    host a (10.213.0.1): broker, sink, ingest, `fpstream status`   keys: `python -m broker keygen`
    host b (10.213.0.2): two analyzers                              keys: `keygen --client hostb`
    host c (10.213.0.3): one analyzer, plus an intruder (a key not   keys: `keygen --client hostc`
                         on the allow-list) and one without keys

The namespaces, the bridge (inside a fourth namespace of its own) and every
address are created here and exist nowhere else: nothing is routed out, the
test process itself (in the host's namespace) cannot reach them, and they are
deleted in ``finally``. Every wait is bounded. Needs CAP_NET_ADMIN (CI runs as
root); skips with the reason otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from base.fields import FEATURES
from fpstream.analyze_file import analyze_file
from tests.stack_harness import ROOT, Proc, Stack, write_audio

SUBNET = "10.213.0"
PORT = 5555
CHUNK_S = "1"


def run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=30)


def namespaces_unavailable() -> str | None:
    """Why this machine cannot run the test, or None."""
    if shutil.which("ip") is None:
        return "iproute2 (`ip`) is not installed"
    probe = f"fps{os.getpid()}probe"
    made = run("ip", "netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"cannot create network namespaces (needs CAP_NET_ADMIN): {made.stderr.strip()}"
    run("ip", "netns", "del", probe, check=False)
    return None


class Hosts:
    """Namespaces ``a``, ``b``, ``c`` with one address each on a bridge in namespace ``br``."""

    def __init__(self) -> None:
        tag = f"fps{os.getpid()}"  # unique per test run; interface names stay inside the namespaces
        self.ns = {h: f"{tag}{h}" for h in ("a", "b", "c", "br")}
        self.address = {"a": f"{SUBNET}.1", "b": f"{SUBNET}.2", "c": f"{SUBNET}.3"}

    def __enter__(self) -> Hosts:
        try:
            for ns in self.ns.values():
                run("ip", "netns", "add", ns)
            br = self.ns["br"]
            run("ip", "-n", br, "link", "add", "br0", "type", "bridge")
            run("ip", "-n", br, "link", "set", "br0", "up")
            for i, host in enumerate(("a", "b", "c"), 1):
                ns = self.ns[host]
                # the veth pair is made inside the bridge's namespace, then one end moves to the host
                run("ip", "-n", br, "link", "add", f"h{i}", "type", "veth", "peer", "name", f"p{i}")
                run("ip", "-n", br, "link", "set", f"h{i}", "netns", ns)
                run("ip", "-n", br, "link", "set", f"p{i}", "master", "br0", "up")
                run("ip", "-n", ns, "addr", "add", f"{self.address[host]}/24", "dev", f"h{i}")
                run("ip", "-n", ns, "link", "set", f"h{i}", "up")
                run("ip", "-n", ns, "link", "set", "lo", "up")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        for ns in self.ns.values():
            run("ip", "netns", "del", ns, check=False)

    def on(self, host: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns[host]]


def keygen(key_dir: Path, client: str | None = None) -> None:
    """The commands of docs/machines.md: `python -m broker keygen DIR [--client NAME]`."""
    extra = ["--client", client] if client else []
    subprocess.run(
        [sys.executable, "-m", "broker", "keygen", str(key_dir), *extra],
        cwd=ROOT,
        check=True,
        timeout=60,
        capture_output=True,
    )


def host_keys(broker_keys: Path, dest: Path, name: str) -> Path:
    """What an analyzer host receives: server.key (public) and its own pair, nothing else."""
    keygen(broker_keys, name)
    dest.mkdir(mode=0o700)
    for f in ("server.key", f"{name}.key", f"{name}.key_secret"):
        shutil.copy(broker_keys / f, dest / f)
    return dest


class Operator:
    """Runs the stack's processes on the hosts, each with its host's settings."""

    def __init__(self, stack: Stack, hosts: Hosts, keys: dict[str, Path]) -> None:
        self.stack, self.hosts = stack, hosts
        self.base = f"tcp://{hosts.address['a']}:{PORT}"
        self.keys = keys

    def env(self, host: str, client: str | None = None, keys: Path | None = None) -> dict[str, str]:
        env = {"FPSTREAM_BROKER": self.base, "FPSTREAM_CHUNK_S": CHUNK_S, "FPSTREAM_IDLE_WARN_S": "5"}
        key_dir = keys or self.keys.get(host)
        if key_dir is not None:
            env["FPSTREAM_CURVE_DIR"] = str(key_dir)
        if client:
            env["FPSTREAM_CURVE_CLIENT"] = client
        return env

    def spawn(self, host: str, module: str, *args: str, env: dict[str, str], stdin: object = None) -> Proc:
        return self.stack.spawn(module, *args, env=env, stdin=stdin, prefix=self.hosts.on(host))

    def status(self, timeout_s: float = 30.0) -> tuple[int, dict | None, float]:
        """`fpstream status --json` on host a: (exit code, broker counters, seconds it took)."""
        t0 = time.monotonic()
        out = subprocess.run(
            [*self.hosts.on("a"), sys.executable, "-m", "fpstream.cli", "status", "--json"]
            + ["--interval", "0", "--timeout", "3"],
            env={**self.stack.env, **self.env("a")},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        answer = json.loads(out.stdout)["broker"] if out.returncode == 0 else None
        return out.returncode, answer, time.monotonic() - t0

    def wait_analyzers(self, n: int, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            rc, answer, _ = self.status()
            if rc == 0 and answer["peers"]["chunks_out"] == n:
                return
            assert time.monotonic() < deadline, f"never {n} analyzers: {answer}\n{self.stack.all_logs()}"
            time.sleep(0.5)

    def feed(self, files: list[Path], during: object = None, timeout_s: float = 180.0) -> str:
        """`fpstream feed` on host a (ingest, paths on stdin) to the end; returns its log."""
        with open(self.stack.write_paths(files), "rb") as stdin:
            # three tracks decode at once (ingest's decode pool): nothing may be lost or doubled by it
            env = {**self.env("a"), "FPSTREAM_DECODE_THREADS": "3"}
            ingest = self.spawn("a", "ingest", env=env, stdin=stdin)
        if during is not None:
            during()
        try:
            rc = ingest.wait(timeout_s)
        except subprocess.TimeoutExpired:
            ingest.signal(signal.SIGKILL)
            raise AssertionError(f"feed did not finish in {timeout_s} s:\n{self.stack.all_logs()}") from None
        assert rc == 0, self.stack.all_logs()
        return ingest.log()


class StatusWatch(threading.Thread):
    """Asks `fpstream status` again and again while the test runs; every answer is recorded."""

    def __init__(self, operator: Operator) -> None:
        super().__init__(daemon=True)
        self.operator = operator
        self.answers: list[tuple[int, float]] = []  # (exit code, seconds)
        self.stopping = False

    def run(self) -> None:
        while not self.stopping:
            rc, _, took = self.operator.status()
            self.answers.append((rc, took))
            time.sleep(0.5)


def assert_rows_match_analyze(rows: dict[str, dict], files: list[Path]) -> None:
    for path in files:
        row = rows[str(path)]
        assert row["status"] == "done", row
        alone = analyze_file(str(path), chunk_s=float(CHUNK_S))
        for name in FEATURES:
            assert row[name] == pytest.approx(alone[name], rel=1e-9, abs=1e-12), (path, name)


def test_three_hosts_curve_refusals_kills_and_a_broker_restart(tmp_path: Path) -> None:
    reason = namespaces_unavailable()
    if reason is not None:
        pytest.skip(reason)
    music = tmp_path / "music"
    music.mkdir()
    feeds = [
        [write_audio(music / f"first {i}.flac", 3.0, seed=i) for i in range(3)],
        [write_audio(music / f"second {i}.flac", 6.0, seed=10 + i) for i in range(6)],
        [write_audio(music / f"third {i}.flac", 3.0, seed=20 + i) for i in range(2)],
    ]
    keys_a = tmp_path / "host-a-keys"
    keygen(keys_a)  # the broker host: server pair, its own client pair, the allow-list
    keys = {
        "a": keys_a,
        "b": host_keys(keys_a, tmp_path / "host-b-keys", "hostb"),
        "c": host_keys(keys_a, tmp_path / "host-c-keys", "hostc"),
    }
    intruder = tmp_path / "intruder-keys"
    keygen(intruder, "intruder")  # a valid pair of its own, never added to host a's allow-list
    shutil.copy(keys_a / "server.key", intruder / "server.key")

    with Hosts() as hosts, Stack(tmp_path) as stack:
        op = Operator(stack, hosts, keys)
        watch = StatusWatch(op)
        try:
            # nothing listens on a network address without keys
            open_broker = op.spawn("a", "broker", env={**op.env("a"), "FPSTREAM_CURVE_DIR": ""})
            assert open_broker.wait(60) != 0
            assert f"refusing to listen on {op.base}" in open_broker.log()

            broker = op.spawn("a", "broker", env=op.env("a"))
            broker.wait_for_log("ready")
            rc, answer, _ = op.status()  # right after start
            assert rc == 0 and answer["curve"] is True, stack.all_logs()
            watch.start()
            sink = op.spawn("a", "sink", env=op.env("a"))
            good_b = [op.spawn("b", "analyzer", env=op.env("b", "hostb")) for _ in range(2)]
            good_c = op.spawn("c", "analyzer", env=op.env("c", "hostc"))
            bad = [
                op.spawn("c", "analyzer", env=op.env("c", "intruder", keys=intruder)),
                op.spawn("c", "analyzer", env={**op.env("c"), "FPSTREAM_CURVE_DIR": ""}),
            ]
            for proc in [sink, *good_b, good_c, *bad]:
                proc.wait_for_log("ready")
            op.wait_analyzers(3)  # the intruder and the keyless analyzer are not counted

            # feed 1: every track done, equal to `fpstream analyze`
            op.feed(feeds[0])
            assert_rows_match_analyze(stack.rows(), feeds[0])

            # the refused analyzers got no work, and both sides said why
            for proc in bad:
                proc.wait_for_log("refused this analyzer", timeout=30)
                proc.wait_for_log("not connected to the broker", timeout=30)
            assert "security mismatch" in bad[1].log()
            broker.wait_for_log(f"DENIED (CURVE) on chunks_out from {hosts.address['c']}", timeout=30)
            # which side notices the missing keys first varies: "security mismatch", or the peer leaving
            broker.wait_for_log("refused connection on chunks_out", timeout=30)

            # feed 2: host b's two analyzers are SIGKILLed mid-feed; nothing is lost
            done_before = len(stack.rows())

            def kill_host_b() -> None:
                stack.wait_rows(done_before + 1, timeout=120)
                for proc in good_b:
                    proc.signal(signal.SIGKILL)

            op.feed(feeds[1], during=kill_host_b)
            rows = stack.rows()
            assert all(rows[str(p)]["status"] == "done" for p in feeds[1]), stack.all_logs()

            # the broker restarts (as revoking a key requires): clients reconnect, a new feed completes
            broker.signal(signal.SIGTERM)
            t0 = time.monotonic()
            assert broker.wait(10) == 0
            stopped_in = time.monotonic() - t0
            broker = op.spawn("a", "broker", env=op.env("a"))
            broker.wait_for_log("ready")
            rc, _, _ = op.status()
            assert rc == 0, stack.all_logs()
            op.wait_analyzers(1)  # host c's good analyzer is back
            op.feed(feeds[2])
            assert_rows_match_analyze(stack.rows(), feeds[2])

            watch.stopping = True
            watch.join(60)
            assert stopped_in < 2.0, f"broker took {stopped_in:.1f} s to honour SIGTERM"
            failures = [a for a in watch.answers if a[0] != 0]
            # while the broker restarted, status may say "not running"; never more than that window
            assert len(watch.answers) >= 5 and len(failures) <= 3, watch.answers
            codes = stack.stop()
            assert codes[sink.name] == 0 and all(codes[p.name] == 0 for p in bad)
            for proc in bad:
                assert "stopped after 0 chunks" in proc.log()
            total = sum(map(len, feeds))
            assert f"stopped: committed {total} done, 0 failed" in sink.log(), sink.log()  # each once
            print(
                f"\nthree hosts: {total} tracks done in 3 feeds; {len(watch.answers)} status answers, "
                f"{len(failures)} missed (broker restarting); broker stopped in {stopped_in:.2f} s"
            )
        finally:
            watch.stopping = True
            stack.stop()
