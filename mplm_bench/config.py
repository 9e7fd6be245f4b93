"""RunConfig: everything that defines a run; its hash keys the run directory and its samples."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

# -M keys that are sampling parameters rather than backend options.
SAMPLING_KEYS = ("max_tokens", "temperature", "top_p", "seed")
# -S keys that are runtime caps rather than strategy options.
CAP_KEYS = ("max_threads", "max_depth", "max_steps", "max_total_tokens", "max_wall_s", "max_inbox",
            "max_sample_chars", "max_step_messages")
# Option names whose values never reach a manifest, log or Parquet file (see `is_secret`).
SECRET_KEYS = ("api_key", "key", "token", "password", "passwd", "secret", "credentials")
# `<word>_token` is a secret only after one of these words: `hf_token`, `auth_token`,
# `api_token`, `access_token`; `decode_per_token` is a setting of the measurement (issue 39.3)
CREDENTIAL_WORDS = ("hf", "auth", "api", "access", "bearer", "refresh", "session", "id", "secret",
                    "hub", "github", "gh", "openai", "private", "oauth", "jwt", "csrf")


class ConfigError(ValueError):
    """Bad user input; the CLI prints the message as one line and exits with code 2."""


def parse_kv(pairs: list[str] | None, flag: str) -> dict[str, Any]:
    """`["size=9", "hard=true"]` -> `{"size": 9, "hard": True}` (values parsed as YAML scalars)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"{flag} {pair!r}: expected key=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        out[key] = value
    return out


def read_yaml(path: Path) -> Any:
    """A YAML file's contents; an unreadable or invalid file is one ConfigError line."""
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a config") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str
    task_options: dict[str, Any] = Field(default_factory=dict)
    strategy: str
    strategy_options: dict[str, Any] = Field(default_factory=dict)
    backend: str = "vllm"
    backend_options: dict[str, Any] = Field(default_factory=dict)
    model: str | None = None
    seed: int = 0
    data: str | None = None
    repeats: int = 1
    # a streamed input (docs/streaming.md): tokens per second on the run's clock, or each
    # piece's arrival time; in the hash only when set, so earlier runs keep their ids
    input_rate: float | None = None
    input_schedule: list[float] | None = None
    # what a server serves (its model id, path, tokenizer digest: backends/served.py), filled in
    # at plan time; in the hash only when set, so a swapped checkpoint is a new run
    served: dict[str, Any] | None = None
    # option defaults in effect that differ from the frozen baseline, and non-zero task/strategy
    # versions (option_defaults.py), filled in at plan time; in the hash only when set, so a
    # changed default is a new run and every other run keeps its id
    defaults: dict[str, Any] | None = None
    # not part of the hash: they change how a run executes, not what it measures
    n: int = 10
    concurrency: int = 64
    out: Path = Path("results")
    log_prompts: bool = False
    strict_resume: bool = False  # refuse, not warn, when a resume's setup differs (sessions.py)
    # `--data` by its contents (data_key.py), computed once: the file is read once per run, and
    # a copy of this config sent to a Ray actor keeps it where the file may not exist
    _data_key: str | None = PrivateAttr(default=None)

    def data_key(self) -> str | None:
        if self._data_key is None and self.data is not None:
            from mplm_bench.data_key import data_key

            self._data_key = data_key(self.data)
        return self._data_key

    def identity(self, legacy: bool = False) -> dict[str, Any]:
        """The fields that define what is measured (so `-n 50` after `-n 20` resumes); `--data`
        by its contents (`legacy`: by its text, as before; for finding old run folders)."""
        d = self.model_dump(mode="json", exclude={"n", "concurrency", "out", "log_prompts", "strict_resume"})
        d["backend_options"] = public_options(self.backend_options)
        if (self.served or {}).get("pool"):
            # several servers of one model (backends/pooled.py): which and how many is how the run
            # executes, like --concurrency; `served` keys the model (docs/servers.md)
            d["backend_options"].pop("base_url", None)
        for key in ("input_rate", "input_schedule", "served", "defaults"):
            if d[key] is None:
                del d[key]
        if not legacy:
            d["data"] = self.data_key()
        return d

    def config_hash(self, legacy: bool = False) -> str:
        blob = json.dumps(self.identity(legacy), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def run_id(self, legacy: bool = False) -> str:
        return f"{task_label(self.task)}-{self.strategy}-{self.backend}-{self.config_hash(legacy)}"


def task_label(task: str) -> str:
    """The task's name as a file-name part: a task from a file (`dir/my_task.py:MyTask`) is
    `my_task.MyTask`, so its run folder stays one folder under `--out`."""
    path, sep, attr = task.rpartition(":")
    if sep and path.endswith(".py"):
        return f"{Path(path).stem}.{attr}"
    return task


def is_secret(key: str) -> bool:
    """A credential's name: one of SECRET_KEYS, or ending `_key`, `_password`, `_secret` (...),
    or `_token` after a credential word (`hf_token`, `auth_token`, `api_token`). Nothing else: a
    hidden option is also left out of the run hash, so runs that differ only in it would resume
    into each other (`max_tokens`, `decode_per_token` and `prefill_per_token` are settings)."""
    words = key.lower().replace("-", "_").split("_")
    if "_".join(words) in SECRET_KEYS:
        return True
    if words[-1] == "token":
        return len(words) > 1 and words[-2] in CREDENTIAL_WORDS
    return len(words) > 1 and words[-1] in SECRET_KEYS


def public_options(options: dict[str, Any]) -> dict[str, Any]:
    """Options as a manifest, log or the run hash may show them: secrets as `***`, and a URL's
    password (`http://user:PASS@host`) as `***` wherever it is (a password is not a setting)."""
    return {k: ("***" if is_secret(k) else public_value(v)) for k, v in options.items()}


_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/@\s:]*):[^/@\s]*@")


def public_value(value: Any) -> Any:
    """`value` with every URL's password replaced by `***` (in strings, lists, dicts)."""
    if isinstance(value, str):
        return _URL_PASSWORD.sub(r"\1:***@", value)
    if isinstance(value, list | tuple):
        return [public_value(v) for v in value]
    if isinstance(value, dict):
        return {k: public_value(v) for k, v in value.items()}
    return value
