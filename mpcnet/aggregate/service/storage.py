"""Aggregator storage: a small interface (:class:`Storage`) and its SQLite implementation.

Every state change that matters for exactly-once aggregation is one transaction here:
an accepted upload; claiming reports into an aggregation job; finishing a job (the reports'
outcome, the aggregate shares and the counters together); the helper's answer to a job (its
outcome, the report ids it has now seen, its aggregate shares); a collection's result. A killed
process loses at most the transaction it was in, which the leader then redoes (see
``docs/aggregate.md``, "Exactly once").

:class:`SqliteStorage` keeps one file per aggregator in WAL mode. ``synchronous=NORMAL`` (the
default) makes every committed transaction survive a killed process (the WAL is in the OS's page
cache); ``FULL`` also survives a power cut, at an fsync per commit. A PostgreSQL store would
implement the same methods, each as one transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from .faults import fault_point

__all__ = ["Storage", "SqliteStorage", "StoredReport", "BucketUpdate", "Combine"]

#: (report_id, time, public_share, leader_share, helper_encrypted_share)
StoredReport = tuple[bytes, int, bytes, bytes, bytes]
#: bucket start -> (encoded aggregate share to add, number of reports in it)
BucketUpdate = Mapping[int, tuple[bytes, int]]
#: adds two encoded aggregate shares
Combine = Callable[[bytes, bytes], bytes]

PENDING, IN_JOB, DONE = 0, 1, 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    id INTEGER PRIMARY KEY, report_id BLOB NOT NULL UNIQUE, time INTEGER NOT NULL, state INTEGER NOT NULL,
    job_id BLOB, public_share BLOB, leader_share BLOB, helper_share BLOB);
CREATE INDEX IF NOT EXISTS reports_pending ON reports (time) WHERE state = 0;
CREATE INDEX IF NOT EXISTS reports_in_job ON reports (job_id) WHERE state = 1;
CREATE TABLE IF NOT EXISTS jobs (job_id BLOB PRIMARY KEY, done INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS seen_reports (report_id BLOB PRIMARY KEY, time INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS helper_jobs (job_id BLOB PRIMARY KEY, request_hash BLOB NOT NULL, response BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS agg_shares (bucket INTEGER PRIMARY KEY, share BLOB NOT NULL, count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS collections (
    collection_id BLOB PRIMARY KEY, start INTEGER NOT NULL, end INTEGER NOT NULL, epsilon TEXT,
    state TEXT NOT NULL, request_hash BLOB, result BLOB, error TEXT);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class Storage(Protocol):
    """What an aggregator stores (one task per store). Each method is one transaction."""

    # leader: reports and jobs
    def add_report(self, report_id: bytes, time: int, public_share: bytes, leader_share: bytes,
                   helper_share: bytes) -> bool:
        """Store an upload as pending; False (nothing stored) if the report id was seen before."""
        ...

    def unfinished_reports(self) -> int:
        """Reports uploaded and not yet through an aggregation job."""
        ...

    def claim_job(self, job_id: bytes, limit: int, before: int | None = None) -> int:
        """Move up to ``limit`` pending reports (with time < ``before``, if given) into a new job; their number."""
        ...

    def running_jobs(self) -> list[bytes]:
        """Jobs claimed and not finished (after a crash: to be run again with the same id)."""
        ...

    def job_reports(self, job_id: bytes) -> list[StoredReport]:
        """A job's reports, in a fixed order (the same on every call)."""
        ...

    def finish_job(self, job_id: bytes, updates: BucketUpdate, combine: Combine, counters: Mapping[str, int]) -> None:
        """Add the job's aggregate shares, mark its reports done (dropping their shares), count."""
        ...

    # helper: jobs answered once
    def helper_job(self, job_id: bytes) -> tuple[bytes, bytes] | None:
        """(request hash, response) stored for a job this helper already answered."""
        ...

    def seen(self, report_ids: Iterable[bytes]) -> set[bytes]:
        """Which of these report ids were in a job this helper answered."""
        ...

    def commit_helper_job(self, job_id: bytes, request_hash: bytes, response: bytes,
                          reports: Sequence[tuple[bytes, int]], updates: BucketUpdate, combine: Combine,
                          counters: Mapping[str, int]) -> None:
        """Store the answer, the (report id, time) pairs and the aggregate shares, count."""
        ...

    def prune(self, before: int) -> int:
        """Forget finished reports (leader) and seen report ids (helper) with time < ``before``; how many."""
        ...

    # both: collections
    def add_counters(self, counters: Mapping[str, int]) -> None:
        """Add to named counters."""
        ...

    def counters(self) -> dict[str, int]:
        """Every counter."""
        ...

    def collection(self, collection_id: bytes) -> tuple[int, int, str | None, str, bytes | None, bytes | None,
                                                         str | None] | None:
        """(start, end, epsilon, state, request hash, result, error) of a collection."""
        ...

    def collections(self) -> list[tuple[bytes, int, int, str]]:
        """(id, start, end, state) of every collection."""
        ...

    def create_collection(self, collection_id: bytes, start: int, end: int, epsilon: str | None, state: str,
                          request_hash: bytes | None = None, result: bytes | None = None, error: str | None = None) -> None:
        """Record a new collection (with its result, if already known)."""
        ...

    def buckets(self, start: int, end: int) -> list[tuple[int, bytes, int]]:
        """(bucket, aggregate share, count) of every bucket in [start, end)."""
        ...

    def pending_before(self, end: int) -> int:
        """Unfinished reports with time < ``end``."""
        ...

    def finish_collection(self, collection_id: bytes, state: str, result: bytes | None, error: str | None) -> None:
        """Record a collection's outcome."""
        ...


class SqliteStorage(Storage):
    """:class:`Storage` in one SQLite file (WAL mode). Use from one thread."""

    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL", role: str = "aggregator") -> None:
        self.path = Path(path)
        self.role = role  # names the fault points: "leader.finish_job.mid", ...
        # We issue BEGIN/COMMIT ourselves; one user at a time, but the helper works in a worker thread.
        self.db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'FULL' else 'NORMAL'}")
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.executescript(_SCHEMA)
        self._unfinished = self.db.execute("SELECT COUNT(*) FROM reports WHERE state < 2").fetchone()[0]

    def close(self) -> None:
        """Close the file (a checkpoint moves the WAL into it)."""
        self.db.close()

    def _begin(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def _commit(self, point: str) -> None:
        fault_point(f"{self.role}.{point}.mid")  # every write of the transaction done, COMMIT not yet
        self.db.execute("COMMIT")
        fault_point(f"{self.role}.{point}.committed")

    def _rollback(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    def _count(self, counters: Mapping[str, int]) -> None:
        self.db.executemany("INSERT INTO counters VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + ?",
                            [(k, v, v) for k, v in counters.items() if v])

    def _add_buckets(self, updates: BucketUpdate, combine: Combine) -> None:
        for bucket, (share, count) in sorted(updates.items()):
            row = self.db.execute("SELECT share FROM agg_shares WHERE bucket = ?", (bucket,)).fetchone()
            if row is None:
                self.db.execute("INSERT INTO agg_shares VALUES (?, ?, ?)", (bucket, share, count))
            else:
                self.db.execute("UPDATE agg_shares SET share = ?, count = count + ? WHERE bucket = ?",
                                (combine(row[0], share), count, bucket))

    # -- leader ---------------------------------------------------------------------------------
    def add_report(self, report_id: bytes, time: int, public_share: bytes, leader_share: bytes,
                   helper_share: bytes) -> bool:
        try:
            self._begin()
            cur = self.db.execute("INSERT OR IGNORE INTO reports (report_id, time, state, public_share, leader_share, "
                                  "helper_share) VALUES (?, ?, 0, ?, ?, ?)",
                                  (report_id, time, public_share, leader_share, helper_share))
            if cur.rowcount:
                self._count({"upload.accepted": 1})
            self._commit("upload")
        except BaseException:
            self._rollback()
            raise
        if cur.rowcount:
            self._unfinished += 1
        return bool(cur.rowcount)

    def unfinished_reports(self) -> int:
        return int(self._unfinished)

    def claim_job(self, job_id: bytes, limit: int, before: int | None = None) -> int:
        try:
            self._begin()
            bound = "AND time < ?" if before is not None else ""
            args: tuple[object, ...] = (job_id, *((before,) if before is not None else ()), limit)
            cur = self.db.execute(f"UPDATE reports SET state = 1, job_id = ? WHERE id IN (SELECT id FROM reports "
                                  f"WHERE state = 0 {bound} ORDER BY id LIMIT ?)", args)
            if cur.rowcount:
                self.db.execute("INSERT INTO jobs VALUES (?, 0)", (job_id,))
            self._commit("claim_job")
        except BaseException:
            self._rollback()
            raise
        return int(cur.rowcount)

    def running_jobs(self) -> list[bytes]:
        return [r[0] for r in self.db.execute("SELECT job_id FROM jobs WHERE done = 0 ORDER BY rowid")]

    def job_reports(self, job_id: bytes) -> list[StoredReport]:
        return list(self.db.execute("SELECT report_id, time, public_share, leader_share, helper_share FROM reports "
                                    "WHERE job_id = ? AND state = 1 ORDER BY id", (job_id,)))

    def finish_job(self, job_id: bytes, updates: BucketUpdate, combine: Combine, counters: Mapping[str, int]) -> None:
        try:
            self._begin()
            cur = self.db.execute("UPDATE reports SET state = 2, public_share = NULL, leader_share = NULL, "
                                  "helper_share = NULL WHERE job_id = ? AND state = 1", (job_id,))
            done = cur.rowcount
            self._add_buckets(updates, combine)
            self.db.execute("UPDATE jobs SET done = 1 WHERE job_id = ?", (job_id,))
            self._count(counters)
            self._commit("finish_job")
        except BaseException:
            self._rollback()
            raise
        self._unfinished -= done

    def pending_before(self, end: int) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM reports WHERE state < 2 AND time < ?", (end,)).fetchone()[0])

    # -- helper ---------------------------------------------------------------------------------
    def helper_job(self, job_id: bytes) -> tuple[bytes, bytes] | None:
        row = self.db.execute("SELECT request_hash, response FROM helper_jobs WHERE job_id = ?", (job_id,)).fetchone()
        return None if row is None else (row[0], row[1])

    def seen(self, report_ids: Iterable[bytes]) -> set[bytes]:
        ids = list(report_ids)
        out: set[bytes] = set()
        for i in range(0, len(ids), 500):  # SQLite's bound-parameter limit
            chunk = ids[i : i + 500]
            out.update(r[0] for r in self.db.execute(
                f"SELECT report_id FROM seen_reports WHERE report_id IN ({','.join('?' * len(chunk))})", chunk))
        return out

    def commit_helper_job(self, job_id: bytes, request_hash: bytes, response: bytes,
                          reports: Sequence[tuple[bytes, int]], updates: BucketUpdate, combine: Combine,
                          counters: Mapping[str, int]) -> None:
        try:
            self._begin()
            self.db.execute("INSERT INTO helper_jobs VALUES (?, ?, ?)", (job_id, request_hash, response))
            self.db.executemany("INSERT OR IGNORE INTO seen_reports VALUES (?, ?)", reports)
            self._add_buckets(updates, combine)
            self._count(counters)
            self._commit("commit_job")
        except BaseException:
            self._rollback()
            raise

    # -- both -----------------------------------------------------------------------------------
    def prune(self, before: int) -> int:
        try:
            self._begin()
            n = self.db.execute("DELETE FROM reports WHERE state = 2 AND time < ?", (before,)).rowcount
            n += self.db.execute("DELETE FROM seen_reports WHERE time < ?", (before,)).rowcount
            self.db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return int(n)

    def add_counters(self, counters: Mapping[str, int]) -> None:
        if not any(counters.values()):
            return
        try:
            self._begin()
            self._count(counters)
            self.db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def counters(self) -> dict[str, int]:
        return {name: value for name, value in self.db.execute("SELECT name, value FROM counters ORDER BY name")}

    def collection(self, collection_id: bytes) -> tuple[int, int, str | None, str, bytes | None, bytes | None,
                                                         str | None] | None:
        row = self.db.execute("SELECT start, end, epsilon, state, request_hash, result, error FROM collections "
                              "WHERE collection_id = ?", (collection_id,)).fetchone()
        return None if row is None else tuple(row)

    def collections(self) -> list[tuple[bytes, int, int, str]]:
        return list(self.db.execute("SELECT collection_id, start, end, state FROM collections ORDER BY rowid"))

    def create_collection(self, collection_id: bytes, start: int, end: int, epsilon: str | None, state: str,
                          request_hash: bytes | None = None, result: bytes | None = None, error: str | None = None) -> None:
        try:
            self._begin()
            self.db.execute("INSERT INTO collections (collection_id, start, end, epsilon, state, request_hash, result, "
                            "error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (collection_id, start, end, epsilon, state, request_hash, result, error))
            self._commit("create_collection")
        except BaseException:
            self._rollback()
            raise

    def buckets(self, start: int, end: int) -> list[tuple[int, bytes, int]]:
        return list(self.db.execute("SELECT bucket, share, count FROM agg_shares WHERE bucket >= ? AND bucket < ? "
                                    "ORDER BY bucket", (start, end)))

    def finish_collection(self, collection_id: bytes, state: str, result: bytes | None, error: str | None) -> None:
        try:
            self._begin()
            self.db.execute("UPDATE collections SET state = ?, result = ?, error = ? WHERE collection_id = ?",
                            (state, result, error, collection_id))
            self._commit("finish_collection")
        except BaseException:
            self._rollback()
            raise

    def size(self) -> int:
        """Bytes on disk (the database and its WAL)."""
        return sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())
