"""The order of a knowledge base's stages (kb.yaml ``stages``), the one place it is worked out.

Rules are kept, compiled (as salience) and their conclusions listed in this order; a kind
no stage declares sorts after every stage. A kind listed twice keeps its first place.
"""
from __future__ import annotations


class StageOrder:
    """Positions of the stage kinds of kb.yaml, in the order it lists them."""

    def __init__(self, stages: list):
        self.stages = list(stages)
        self.kinds = [s["kind"] for s in self.stages]
        self._position: dict = {}
        for i, kind in enumerate(self.kinds):
            self._position.setdefault(kind, i)

    def index(self, kind: str) -> int:
        """The position of stage ``kind``; after every stage when no stage is of that kind."""
        return self._position.get(kind, len(self.kinds))

    def __contains__(self, kind: str) -> bool:
        return kind in self._position
