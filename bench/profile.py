"""Where create and reveal spend their time: pyinstrument around the app, in process.

The app runs through Flask's test client (no uWSGI, no nginx), on SQLite with
the default settings, so the profile shows the app's own hot path: WSGI and
Flask, JSON, base64, the rules and the storage, down to SQLite's commit.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from pathlib import Path

from . import fill


def _self_times(frame, totals: dict, depth: int = 0) -> None:
    if frame is None:
        return
    path = frame.file_path_short or frame.file_path or ""
    key = f"{frame.function} ({path}:{frame.line_no})" if path else frame.function
    totals[key] += frame.total_self_time
    for child in frame.children:
        _self_times(child, totals, depth + 1)


def profile(count: int, workdir: Path | None = None) -> dict:
    """Profile `count` creates and `count` reveals; return the top self-time lines of each."""
    from pyinstrument import Profiler

    from mayfly import create_app

    with tempfile.TemporaryDirectory(dir=workdir) as scratch:
        app = create_app({"data_dir": scratch, "rate_limit_create": "",
                          "rate_limit_reveal": ""})
        client = app.test_client()
        body = fill.create_body()
        headers = {"Content-Type": "application/json"}
        for _ in range(20):  # warm imports and caches
            client.post("/api/v1/secrets", data=body, headers=headers)
        ids = fill.fill_sqlite(Path(scratch) / "mayfly.db", count)
        results = {}
        for name, send in (
            ("create", lambda _i: client.post("/api/v1/secrets", data=body, headers=headers)),
            ("reveal", lambda i: client.post(f"/api/v1/secrets/{i}/reveal",
                                             data=fill.REVEAL_BODY, headers=headers)),
        ):
            profiler = Profiler(interval=0.0005)
            profiler.start()
            for secret_id in ids:
                response = send(secret_id)
                assert response.status_code in (200, 201), response.get_data(as_text=True)
            session = profiler.stop()
            totals: dict[str, float] = defaultdict(float)
            _self_times(session.root_frame(), totals)
            wall = session.duration
            top = sorted(totals.items(), key=lambda kv: -kv[1])[:12]
            results[name] = {
                "requests": count,
                "ms_per_request": wall / count * 1000,
                "top_self": [{"where": k, "share": v / wall} for k, v in top],
                "tree": profiler.output_text(unicode=False, color=False, show_all=False),
            }
        app.extensions["mayfly"].storage.close()
    return results
