"""UCUM quantities to the case's units, exactly: the knowledge base's unit table
(knowledge/fhir/units.yaml) lists for each case value the UCUM codes accepted and the cited
factor of each. A unit the table does not list is bad input; no factor is ever guessed."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

UCUM = "http://unitsofmeasure.org"


@dataclass(frozen=True)
class Converted:
    """A quantity in the case's unit: the exact value, the UCUM code read, and a note when the
    unit was read in a way worth saying (a factor applied, a known mistake accepted)."""

    value: Decimal
    unit: str
    note: str | None = None


class UnitError(ValueError):
    """A quantity whose unit the table does not accept for that value (the message says which it does)."""


def _exact(number) -> Decimal:
    return Decimal(repr(number)) if isinstance(number, float) else Decimal(number)


def convert(quantity: dict, target: str, table: dict) -> Converted:
    """``quantity`` (a FHIR Quantity) as the case value ``target`` (bmd_g_cm2, vitamin_d_25oh_ng_ml...).

    The UCUM ``code`` is read (``unit``, the human text, only when no code is given); raises
    UnitError for a unit not accepted, a missing value, or a system other than UCUM."""
    spec = table.get(target)
    if spec is None:
        raise UnitError(f"no unit table for {target}")
    value = quantity.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UnitError("no numeric value")
    system = quantity.get("system")
    if system is not None and system != UCUM:
        raise UnitError(f"unit system {system!r} is not UCUM ({UCUM})")
    code = quantity.get("code") if quantity.get("code") is not None else quantity.get("unit")
    accepted = {a["ucum"]: a for a in spec["accept"]}
    if code is None and spec["unit"] == "1":
        code = "1"      # a dimensionless score written without a unit
    if code not in accepted:
        raise UnitError(f"unit {code!r} is not one the knowledge base converts for {target} "
                        f"(accepted: {', '.join(sorted(accepted))})")
    rule = accepted[code]
    factor = Decimal(rule["factor"])
    exact = _exact(value) * factor
    said = []
    if factor != 1:
        said.append(f"{value} {code} converted to {exact.normalize():f} {spec['unit']} ({rule['source']})")
    if rule.get("note"):
        said.append(rule["note"])
    return Converted(exact, code, "; ".join(said) or None)
