"""``POST /api/fingerprint`` through a real running stack (broker, sink, analyzer over ZeroMQ):
the file goes through ingest and is answered with its committed row; a current row at once."""

from __future__ import annotations

import json
import time
from pathlib import Path

from store.library import text_value
from tests.serve_support import start_service
from tests.stack_harness import Stack, write_audio


def test_fingerprint_through_the_stack(tmp_path: Path) -> None:
    music = tmp_path / "music"
    music.mkdir()
    tracks = [write_audio(music / f"t{i}.wav", 3.0, sr=22_050, seed=i) for i in range(3)]
    with Stack(tmp_path / "stack") as stack:
        stack.start(analyzers=1)
        stack.ingest(tracks[:2])  # the library the service starts with
        service = start_service(
            stack.db,
            tmp_path,
            "--music-dir",
            str(music),
            env={"FPSTREAM_BROKER": stack.env["FPSTREAM_BROKER"]},
        )
        try:
            _, health = service.get_json("/health")
            assert health["stack"]["up"] is True and health["analysed"] == 2
            started = time.monotonic()
            status, _, raw = service.post_json("/api/fingerprint", {"path": str(tracks[2])})
            assert status == 200, raw
            answer = json.loads(raw)
            assert answer["analysed"] is True
            row = answer["row"]
            stored = {k: text_value(v) for k, v in stack.rows()[str(tracks[2])].items()}  # BLOB as base64
            assert row == stored and row["status"] == "done"
            first_s = time.monotonic() - started
            # the stored row is current now: answered at once, without ingest
            started = time.monotonic()
            status, _, raw = service.post_json(
                "/api/fingerprint", {"path": "t2.wav"}
            )  # relative to the music dir
            again_s = time.monotonic() - started
            assert status == 200 and json.loads(raw) == {"analysed": False, "row": stored}
            assert again_s < min(1.0, first_s)
            # and the service's vectors see it without a restart
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                status, found = service.get_json("/api/similar", path=str(tracks[2]), k=2)
                if status == 200:
                    break
                time.sleep(0.2)
            assert status == 200 and {n["path"] for n in found} == {str(t) for t in tracks[:2]}
        finally:
            log = service.stop()
        assert "Traceback" not in log, log
