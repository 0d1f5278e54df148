"""The rule engines a knowledge base can run on, chosen by name, and how to tell whether two
of them agree on a case.

``durable`` (durable_rules, runtime.py) is the default; ``clips`` (CLIPS 6.4 through clipspy,
clips_runtime.py) runs the same compiled knowledge base. Both give a ``Runtime``-like object:
``run(facts) -> (firings, asserted)``. Each engine module is imported only when chosen, so a
run on one engine never loads the other.
"""
from __future__ import annotations

from bmdkb.engine.common.errors import BmdkbError, Problem

DEFAULT = "durable"
ENGINES = ("durable", "clips")


class EngineError(BmdkbError):
    """An engine name that does not exist, or an engine that cannot be loaded here: exit 2."""


def names(choice: str) -> list[str]:
    """The engines a ``--engines`` value names: ``all``, or a comma-separated list."""
    if choice == "all":
        return list(ENGINES)
    chosen = [name.strip() for name in choice.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in ENGINES]
    if unknown or not chosen:
        raise EngineError(Problem("--engines", "", f"unknown engine {', '.join(unknown) or '(none)'}; "
                                                    f"choose from {', '.join(ENGINES)} or all"))
    return list(dict.fromkeys(chosen))


def runtime(kb, name: str = DEFAULT):
    """The knowledge base compiled for the engine ``name``, ready to run cases."""
    if name == "durable":
        from bmdkb.engine.run.runtime import Runtime
        return Runtime(kb)
    if name == "clips":
        try:
            from bmdkb.engine.run.clips_runtime import ClipsRuntime
        except ImportError as exc:   # clipspy is a dependency, but a broken install should say so plainly
            raise EngineError(Problem("--engine", "", f"the clips engine needs clipspy ({exc})")) from None
        return ClipsRuntime(kb)
    raise EngineError(Problem("--engine", "", f"unknown engine {name!r}; choose from {', '.join(ENGINES)}"))


def firing_trace(firings) -> list[tuple]:
    """A firing list as comparable data: each rule with the id of the fact each alias matched, in order."""
    return [(f.rule, tuple((alias, fact["id"]) for alias, fact in f.matched.items())) for f in firings]


def disagreement(first, second) -> str | None:
    """How two evaluations of one case (evaluate.Evaluation, on two engines) differ, or None:
    the firings (rules, matched facts, order), the facts the rules asserted, and the result."""
    a, b = firing_trace(first.firings), firing_trace(second.firings)
    if a != b:
        n = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        left = f"{a[n][0]} on {dict(a[n][1])}" if n < len(a) else "nothing"
        right = f"{b[n][0]} on {dict(b[n][1])}" if n < len(b) else "nothing"
        return f"firing {n + 1} differs: {left} vs {right} ({len(a)} vs {len(b)} firings)"
    if [f.to_dict() for f in first.asserted] != [f.to_dict() for f in second.asserted]:
        return "the facts asserted by rules differ"
    if first.result != second.result:
        return "the result documents differ"
    return None
