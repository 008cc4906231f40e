"""A real PostgreSQL server for the tests: initdb into a temporary directory,
listening on 127.0.0.1 (a free port) and on a Unix socket in that
directory, with password authentication, stopped and removed afterwards.

The server binaries come from the system's packages (`make postgres`
installs them). initdb refuses to run as root, so as root the cluster
belongs to the `postgres` user the package creates.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from harness import free_port, wait_for_port

PASSWORD = "s3cret-of-the-host"


def pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL's server binaries are missing: run `make postgres` (make test does)")
    return Path(found[-1]).parent


class PgServer:
    def __init__(self) -> None:
        self.bin = pg_bin()
        self.root = Path(tempfile.mkdtemp(prefix="activity-host-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._user = "postgres" if os.geteuid() == 0 else None
        if self._user:
            pw = pwd.getpwnam(self._user)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self._user:
            os.chown(pwfile, pwd.getpwnam(self._user).pw_uid, -1)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=scram-sha-256",
                  f"--pwfile={pwfile}", "--no-sync", "-E", "UTF8", "--locale=C")
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
                   "-c max_connections=100 -c shared_buffers=16MB")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "log"),
                  "-w", "-t", "60", "start")
        wait_for_port(self.port, 30)

    def _run(self, *command: str) -> subprocess.CompletedProcess:
        if self._user:
            command = ("runuser", "-u", self._user, "--", *command)
        return subprocess.run(command, check=True, capture_output=True, text=True, cwd=self.root)

    def url(self, database: str = "postgres", user: str = "postgres", password: str = PASSWORD) -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Runs SQL as the superuser and returns psql's unaligned output."""
        result = subprocess.run(
            [str(self.bin / "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
             "-p", str(self.port), "-U", "postgres", "-d", database, "-c", sql],
            capture_output=True, text=True, env={**os.environ, "PGPASSWORD": PASSWORD},
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr}")
        return result.stdout.strip()

    def backends(self, database: str) -> int:
        """Client backends connected to `database`, other than psql's own."""
        return int(self.psql(
            f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{database}' "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"))

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "PgServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
