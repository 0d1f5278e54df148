"""FHIR R4 plumbing that knows no domain: reading a Bundle (entries, references, the FHIR path of
every element), checking its resources with a FHIR model library (``fhir.resources``, R4B models),
converting UCUM quantities with the knowledge base's cited unit table, and turning a Bundle into
an evaluation (the case adapter maps it onto its contract case) or a result into a FHIR Bundle.

    bundle.py    Bundle reading: entries, references, codings, FHIR paths (``Bundle.entry[3].resource``)
    models.py    the one place that imports fhir.resources: a resource or Bundle checked, errors as paths
    units.py     a Quantity in one of the table's UCUM units -> the case's unit, exactly (Decimal)
    evaluate.py  is_fhir_bundle, case_from_bundle, evaluate_bundle, fhir_binding: FHIR input end to end
    output.py    ``--format fhir``: GuidanceResponse, RequestGroup and Provenance in one Bundle
"""
