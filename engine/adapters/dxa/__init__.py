"""The DXA case adapter, as the generic engine sees it: ``ADAPTER`` (engine/adapters/__init__.py
describes the interface; the domain code itself is in adapter.py)."""
from __future__ import annotations

from bmdkb.engine.adapters.interface import DataFile
from bmdkb.engine.adapters.dxa import adapter as _dxa


class DxaAdapter:
    """Serial DXA scans: validation, facts, the per-site summary and the treatment-class table."""

    name = "dxa"
    data_files = (DataFile(key="treatment_classes", path="knowledge/facts/treatment-classes.yaml",
                           schema="treatment-classes", take="classes", label="treatment classes"),
                  # FHIR input (engine/adapters/dxa/fhir.py): optional, a knowledge base without them reads no FHIR
                  DataFile(key="fhir_binding", path="knowledge/fhir/binding.yaml", schema="fhir-binding",
                           take="", label="FHIR terminology binding", required=False),
                  DataFile(key="fhir_units", path="knowledge/fhir/units.yaml", schema="fhir-units",
                           take="quantities", label="FHIR unit conversions", required=False))
    ratio_fields = {"change_in_lsc": ("delta_g_cm2", "lsc_g_cm2")}
    unit_decimals = {"g/cm2": 3}   # DXA reports BMD to 0.001 g/cm2

    def validate_case(self, case, file, today):
        """Schema plus the rules a schema cannot say; raises CaseError listing every problem."""
        _dxa.validate_case(case, file, today)

    def case_to_facts(self, case, domain_data):
        """Input facts, then derived facts; the agent's class comes from the treatment-class table."""
        return _dxa.case_to_facts(case, domain_data.get("treatment_classes", {}))

    def summary_lines(self, result_facts):
        """The most recent interval's per-site changes in g/cm2, percent and LSC."""
        return _dxa.summary_lines(result_facts)

    def schema_message(self, error):
        """The mg/cm2 hint for an implausible BMD; None for every other error."""
        return _dxa.schema_message(error)

    def case_from_bundle(self, bundle, file, domain_data, facility=None, facility_file="--facility"):
        """A FHIR R4 Bundle as a contract case, with the FHIR path of every field (fhir.Mapped)."""
        from bmdkb.engine.adapters.dxa import fhir as _fhir   # the FHIR mapping: only when a Bundle is read
        return _fhir.case_from_bundle(bundle, file, domain_data, facility, facility_file)

    def fhir_binding(self, domain_data):
        """The FHIR terminology binding (``loinc_codes`` and lookups), or None without one."""
        from bmdkb.engine.adapters.dxa import fhir as _fhir   # the FHIR mapping: only when a Bundle is read
        return _fhir.binding(domain_data)

    def facility_problems(self, facility, file):
        """The problems of a facility file (the case's facility block, optionally per scanner id)."""
        from bmdkb.engine.kb import schemas  # jsonschema, only when a facility file is given
        return schemas.problems("facility", facility, file)


ADAPTER = DxaAdapter()
