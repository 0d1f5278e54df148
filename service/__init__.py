"""The CDS Hooks service (`bmdkb serve`): the knowledge base answering an EHR's patient-view hook.

A front end beside cli/, reaching the engine only through engine/api.py. One job per module:
``config`` (settings and the card groups), ``auth`` (the client's JWT), ``fhir`` (prefetch
templates, the FHIR client, the Bundle handed to the engine), ``cards`` (an evaluation as
CDS Hooks cards), ``pages`` (the registered source text with a cited passage highlighted),
``feedback`` (the append-only feedback store and its summary), ``app`` (routes, limits and
error answers) and ``server`` (uvicorn and the log).
"""
