"""The service's settings: the command line's options over an optional YAML file (``--config``).

Every key of the file is checked here, before the server starts: an unknown key, a wrong type or
an issuer without keys stops `bmdkb serve` with exit status 2 naming the file and the field.
The card groups (which stages' conclusions share a card: one card per clinical question) are
settings too, with defaults for the shipped knowledge base's stages.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from bmdkb.engine.api import BmdkbError, Problem, load_yaml_file

MODES = ("preview", "production")
INDICATORS = ("info", "warning")   # "critical" is never used: nothing in a DXA interpretation is urgent
MAX_REQUEST_BYTES = 5 * 1024 * 1024        # a prefetch of a few hundred Observations is well under 1 MiB
MAX_FHIR_RESPONSE_BYTES = 20 * 1024 * 1024
DEFAULT_FEEDBACK_STORE = "bmdkb-feedback.jsonl"
MAX_WORKERS = 64


class ConfigError(BmdkbError):
    """A setting that cannot be used (exit status 2)."""

    exit_code = 2


@dataclass(frozen=True)
class CardGroup:
    """One card: the clinical question it answers and the stages whose conclusions it holds.

    ``warning_stages``: the card's indicator is ``warning`` when it holds a conclusion of one of
    them, ``info`` otherwise (see cards.indicator)."""

    id: str
    title: str
    stages: tuple
    warning_stages: tuple = ()


# One card per clinical question, in the order a clinician reads them: what the change means
# (the pattern with its possible explanations and the assessment), what to check, what to do about
# treatment, when to look again, and what could mislead.
DEFAULT_CARD_GROUPS = (
    CardGroup("interpretation", "What the DXA change means", ("pattern", "hypothesis", "assessment"),
              warning_stages=("pattern",)),
    CardGroup("checks", "Checks to make next", ("check",)),
    CardGroup("treatment", "Treatment considerations", ("treatment",)),
    CardGroup("follow-up", "Follow-up", ("follow_up",)),
    CardGroup("pitfalls", "Pitfalls and cautions", ("pitfall", "caution")),
)


@dataclass(frozen=True)
class Issuer:
    """A CDS client the service trusts: its key set (inline from a file, or at a URL) and the
    ``jku`` URLs its tokens may name (only those are ever fetched)."""

    iss: str
    jwks: dict | None = None
    jwks_url: str | None = None
    jku: tuple = ()


@dataclass(frozen=True)
class ServiceConfig:
    """Everything `bmdkb serve` runs with."""

    kb_root: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    mode: str = "preview"
    public_url: str | None = None          # the address clients call: `aud` and links are built on it
    allow_unsigned: bool = False
    issuers: dict = field(default_factory=dict)       # iss -> Issuer
    cors_origins: tuple = ()
    max_request_bytes: int = MAX_REQUEST_BYTES
    max_fhir_response_bytes: int = MAX_FHIR_RESPONSE_BYTES
    fhir_timeout_seconds: float = 10.0
    fhir_servers: tuple = ()               # allowed fhirServer base URLs; empty: any
    jwt_leeway_seconds: int = 60
    max_token_lifetime_seconds: int = 3600
    feedback_store: str = DEFAULT_FEEDBACK_STORE
    facility_file: str | None = None       # the facility's LSC (``--facility``, as for `evaluate`)
    facility: dict | None = None           # that file as read (server.build fills it)
    card_groups: tuple = DEFAULT_CARD_GROUPS
    workers: int = 1                       # evaluation worker processes (pool.py); 1: evaluate in the server's own

    @property
    def approved_only(self) -> bool:
        """Production mode shows approved content only."""
        return self.mode == "production"


_SIMPLE = {  # key -> (type(s), what it must be)
    "host": (str, "a host name or address"),
    "port": (int, "a port number"),
    "mode": (str, "preview or production"),
    "public_url": (str, "an http(s) URL"),
    "allow_unsigned": (bool, "true or false"),
    "max_request_bytes": (int, "a positive number of bytes"),
    "max_fhir_response_bytes": (int, "a positive number of bytes"),
    "fhir_timeout_seconds": ((int, float), "a positive number of seconds"),
    "jwt_leeway_seconds": (int, "a number of seconds, 0 or more"),
    "max_token_lifetime_seconds": (int, "a positive number of seconds"),
    "feedback_store": (str, "a file path"),
    "workers": (int, f"a number of evaluation worker processes, 1 to {MAX_WORKERS}"),
    "kb": (str, "a knowledge-base root"),
    "facility": (str, "a facility file (the case's facility block)"),
}
_KEYS = set(_SIMPLE) | {"issuers", "cors_origins", "fhir_servers", "cards"}


def _bad(name: str, where: str, message: str) -> ConfigError:
    return ConfigError(Problem(name, where, message))


def _url(value, name: str, where: str) -> str:
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc:
        raise _bad(name, where, "must be an http(s) URL")
    return value.rstrip("/")


def _strings(value, name: str, where: str) -> tuple:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _bad(name, where, "must be a list of strings")
    return tuple(value)


def _issuers(raw, name: str, base: Path) -> dict:
    if not isinstance(raw, dict):
        raise _bad(name, "issuers", "must map each issuer (`iss`) to its keys")
    out = {}
    for iss, entry in raw.items():
        where = f"issuers.{iss}"
        if not isinstance(entry, dict) or set(entry) - {"jwks_file", "jwks_url", "jku"}:
            raise _bad(name, where, "must be a mapping of jwks_file, jwks_url and jku")
        jwks = None
        if "jwks_file" in entry:
            if not isinstance(entry["jwks_file"], str):
                raise _bad(name, f"{where}.jwks_file", "must be a file path")
            path = base / entry["jwks_file"]
            jwks = load_yaml_file(path, ConfigError, str(path))
            if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
                raise _bad(str(path), "keys", "a JSON Web Key Set needs a list of keys")
        jwks_url = _url(entry["jwks_url"], name, f"{where}.jwks_url") if "jwks_url" in entry else None
        jku = tuple(_url(u, name, f"{where}.jku") for u in _strings(entry.get("jku", []), name, f"{where}.jku"))
        if jwks is None and jwks_url is None and not jku:
            raise _bad(name, where, "gives no keys: set jwks_file, jwks_url or jku")
        out[iss] = Issuer(iss, jwks, jwks_url, jku)
    return out


def _groups(raw, name: str) -> tuple:
    if not isinstance(raw, list) or not raw:
        raise _bad(name, "cards", "must be a list of card groups")
    out = []
    for k, entry in enumerate(raw):
        where = f"cards[{k}]"
        if not isinstance(entry, dict) or set(entry) - {"id", "title", "stages", "warning_stages"} \
                or not {"id", "title", "stages"} <= set(entry):
            raise _bad(name, where, "needs id, title and stages (and optionally warning_stages)")
        if not isinstance(entry["id"], str) or not isinstance(entry["title"], str):
            raise _bad(name, where, "id and title must be strings")
        out.append(CardGroup(entry["id"], entry["title"], _strings(entry["stages"], name, f"{where}.stages"),
                             _strings(entry.get("warning_stages", []), name, f"{where}.warning_stages")))
    return tuple(out)


def read(path: str | None, **overrides) -> ServiceConfig:
    """The settings of ``path`` (YAML or JSON; none: the defaults), then every override not None."""
    config = ServiceConfig()
    if path is not None:
        raw = load_yaml_file(Path(path), ConfigError, path)
        if not isinstance(raw, dict):
            raise _bad(path, "", "must be a mapping of settings")
        unknown = sorted(set(raw) - _KEYS)
        if unknown:
            raise _bad(path, unknown[0], f"is not a setting (settings: {', '.join(sorted(_KEYS))})")
        values = {}
        for key, (kind, what) in _SIMPLE.items():
            if key in raw:
                value = raw[key]
                if not isinstance(value, kind) or isinstance(value, bool) != (kind is bool):
                    raise _bad(path, key, f"must be {what}")
                if key in ("kb", "facility", "feedback_store"):   # paths in the file are relative to it
                    value = str(Path(path).resolve().parent / value)
                values[{"kb": "kb_root", "facility": "facility_file"}.get(key, key)] = value
        base = Path(path).resolve().parent
        if "issuers" in raw:
            values["issuers"] = _issuers(raw["issuers"], path, base)
        for key in ("cors_origins", "fhir_servers"):
            if key in raw:
                values[key] = _strings(raw[key], path, key)
        if "fhir_servers" in values:
            values["fhir_servers"] = tuple(_url(u, path, "fhir_servers") for u in values["fhir_servers"])
        if "cards" in raw:
            values["card_groups"] = _groups(raw["cards"], path)
        config = replace(config, **values)
    config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
    return check(config, path or "bmdkb serve")


def check(config: ServiceConfig, name: str) -> ServiceConfig:
    """Refuse settings that cannot work together (exit status 2), naming the setting."""
    if config.mode not in MODES:
        raise _bad(name, "mode", f"must be one of {', '.join(MODES)}")
    if not 0 <= config.port <= 65535:
        raise _bad(name, "port", "must be between 0 and 65535")
    for key in ("max_request_bytes", "max_fhir_response_bytes", "fhir_timeout_seconds", "max_token_lifetime_seconds"):
        if getattr(config, key) <= 0:
            raise _bad(name, key, "must be positive")
    if not 1 <= config.workers <= MAX_WORKERS:
        raise _bad(name, "workers", f"must be between 1 and {MAX_WORKERS}")
    if config.jwt_leeway_seconds < 0:
        raise _bad(name, "jwt_leeway_seconds", "must be 0 or more")
    if config.public_url is not None:
        config = replace(config, public_url=_url(config.public_url, name, "public_url"))
    if not config.issuers and not config.allow_unsigned:
        raise _bad(name, "issuers", "no trusted issuer is configured: every request would be refused "
                   "(give issuers in --config, or --allow-unsigned for local development)")
    return config


def card_groups(config: ServiceConfig, stages: list) -> tuple:
    """The card groups for a knowledge base's stages: each shown stage on exactly one card.

    A stage a group names that the knowledge base does not show is dropped from the defaults and
    refused in a configured list; a shown stage in no group gets a card of its own, titled as
    kb.yaml titles the stage."""
    shown = [s for s in stages if s.get("shown")]
    kinds = [s["kind"] for s in shown]
    configured = config.card_groups is not DEFAULT_CARD_GROUPS
    out, placed = [], set()
    for group in config.card_groups:
        unknown = [k for k in group.stages if k not in kinds]
        if unknown and configured:
            raise _bad("--config", f"cards.{group.id}", f"names {unknown[0]!r}, which is not a shown stage "
                       f"of the knowledge base (shown: {', '.join(kinds)})")
        twice = [k for k in group.stages if k in placed]
        if twice:
            raise _bad("--config", f"cards.{group.id}", f"puts {twice[0]!r} on a second card")
        stages_here = tuple(k for k in group.stages if k in kinds)
        if stages_here:
            placed.update(stages_here)
            out.append(replace(group, stages=stages_here,
                               warning_stages=tuple(k for k in group.warning_stages if k in stages_here)))
    for stage in shown:
        if stage["kind"] not in placed:
            out.append(CardGroup(stage["kind"], stage["title"], (stage["kind"],)))
    return tuple(out)
