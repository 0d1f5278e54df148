"""Following facts back to the case: the input paths and values behind a fact, and for a field the
case does not record, the input paths that would settle it (from the fact types' ``source``
templates, filled in with the fact's key fields and input positions)."""
from __future__ import annotations

import re

from bmdkb.engine.explain.domain_hints import lookup, placeholders, recorded
from bmdkb.engine.explain.model import InputEntry


class Tracer:
    """Input paths of one evaluation's facts, read with the fact vocabulary."""

    def __init__(self, index, vocabulary):
        self.index = index
        self.vocab = vocabulary

    @property
    def case(self) -> dict:
        """The case as read from its file."""
        return self.index.ev.case

    def lookup(self, path: str):
        """(found, value) at an input path: in the case, or for a case read from another document
        (a FHIR Bundle: ``Bundle.entry[3].resource.valueQuantity.value``) in that document."""
        source = getattr(self.index.ev, "source", None)
        if source is not None and path.startswith(f"{source.get('resourceType')}."):
            return lookup({source["resourceType"]: source}, path)
        return lookup(self.case, path)

    def _case_path(self, path: str) -> str:
        """The case path a source path was read into (the inverse of the evaluation's input_paths)."""
        paths = getattr(self.index.ev, "input_paths", None)
        if not paths:
            return path
        if not hasattr(self, "_inverse"):
            self._inverse = {}
            for case_path, source_path in paths.items():
                self._inverse.setdefault(source_path, case_path)
        return self._inverse.get(path, path)

    def settling_paths(self, fact, field: str, hints: dict | None = None) -> list[str]:
        """Input paths that would settle an unrecorded ``field`` of ``fact`` (or of a fact not present,
        whose key fields are in ``hints``)."""
        fields = self.vocab.type_fields(fact.type if fact is not None else hints["__type__"])
        known = dict(hints or {})
        if fact is not None:
            known.update(fact.fields)
        templates = []
        if fields.get(field, {}).get("source"):
            templates.append(fields[field]["source"])
        else:  # a computed field: the missing inputs it is computed from
            for name, spec in fields.items():
                if spec.get("source") and known.get(name) is None and name not in placeholders(fields):
                    templates.append(spec["source"])
        indexes = self.input_positions(fact)
        paths = []
        for template in dict.fromkeys(templates):
            for path in self.instantiate(template, known, indexes):
                if path not in paths:
                    paths.append(path)
        paths = [p for p in paths if not re.search(r"<\w+>", p)]  # which one is not known: say nothing
        unrecorded = [p for p in paths if not recorded(self.case, p)]
        return unrecorded or paths

    def input_positions(self, fact) -> list[str]:
        """The input positions (``[1]``) of the fact's own paths, or of the facts it came from."""
        if fact is None:
            return []
        seen, found, todo = set(), [], [fact]
        while todo:
            current = todo.pop(0)
            if current.id in seen:
                continue
            seen.add(current.id)
            for path in current.paths.values():
                path = self._case_path(path)   # positions in the case (scans[i]), not in a Bundle
                for index in re.findall(r"\[(\d+)\]", path):
                    if index not in found:
                        found.append(index)
            todo += [self.index.facts[i] for i in current.derived_from if i in self.index.facts]
        return found

    def instantiate(self, template: str, known: dict, indexes: list[str]) -> list[str]:
        """Input paths from a fact-types ``source`` template: ``<site>`` from the fact's fields, ``[i]``
        from the positions the fact came from or, with none, every position up to one past the list."""
        def fill(match):
            value = known.get(match.group(1))
            return str(value) if isinstance(value, str) else match.group(0)

        path = re.sub(r"<(\w+)>", fill, template)
        if "[i]" not in path:
            return [path]
        if not indexes:
            listed = self.case.get(path.split("[i]")[0], [])
            indexes = [str(i) for i in range(len(listed) + 1)] if isinstance(listed, list) else ["0"]
        return [path.replace("[i]", f"[{i}]") for i in indexes]

    def inputs(self, fact, tested: list[str] | None) -> list[InputEntry]:
        """An input fact's input fields: the tested ones when a rule tested it directly; else every
        field it has a path for; else the input paths that would have recorded it."""
        def entry(field):
            value, path = fact.fields[field], fact.paths[field]
            found, given = self.lookup(path)
            # a value read from the input, such as a class from an agent, may differ from the given one
            return InputEntry(field, path, True, value=given if found else value, fact_value=value,
                              differs=found and given != value, unit=self.vocab.unit(fact.type, field))

        containers = {p for p in fact.paths.values() if any(q.startswith(p + ".") for q in fact.paths.values())}
        inputs = []
        for field in dict.fromkeys(tested or []):
            if field in fact.paths and fact.paths[field] not in containers:
                inputs.append(entry(field))
            elif fact.fields.get(field) is None:
                for path in self.settling_paths(fact, field):
                    inputs.append(InputEntry(field, path, False))
        if not inputs:
            inputs = [entry(f) for f in fact.paths if fact.paths[f] not in containers]
        if not inputs:
            for field, spec in self.vocab.type_fields(fact.type).items():
                if spec.get("source"):
                    inputs += [InputEntry(field, p, False) for p in self.settling_paths(fact, field)]
        return inputs
