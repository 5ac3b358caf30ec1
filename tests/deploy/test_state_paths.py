"""Every state path of a build lives where it is told (or beside its database), never in the
working directory: on the image that is /app, read-only and owned by root."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.deploy.sandbox import readonly_cwd
from tests.factories import make_db
from tests.lab.catalog import CatalogEntry, write_catalog

ROOT = Path(__file__).resolve().parents[2]


def test_a_build_from_a_read_only_working_directory_keeps_its_cache_beside_the_database(tmp_path):
    app, data = tmp_path / "app", tmp_path / "data"
    app.mkdir()
    data.mkdir()
    fixture = make_db(data)
    catalog = write_catalog(data / "targets.toml", (
        CatalogEntry(t.host, t.name, t.port, ("icmp", "tcp", "tls", "trace"))
        for t in fixture.catalog.targets))
    cmd = [sys.executable, "-m", "nettrace", "build", "--db", str(fixture.path),
           "--out", str(data / "public"), "--private", str(data / "private"),
           "--targets", str(catalog), "--now", str(fixture.round_ts)]
    # The repository's code from anywhere: the working directory is not on the path here.
    done = subprocess.run(readonly_cwd(cmd, app), cwd=app, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert any((fixture.path.parent / "build-cache").iterdir())
    assert (data / "public" / "api" / "v1" / "index.json").is_file()
    assert list(app.iterdir()) == []
