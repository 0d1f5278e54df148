"""`bmdkb serve`: the knowledge base as a CDS Hooks 2.0.1 service (patient-view), for EHRs."""
from __future__ import annotations

import click

from bmdkb.engine.api import BmdkbError, Problem, exitstatus
from bmdkb.cli.options import kb_option, root_path

SERVE_EXTRA = "pip install 'bmdkb[serve]'"


def _service_modules():
    """The service's modules, or a bad-input error saying how to install them."""
    try:
        from bmdkb.service import config, server   # lazy: starlette, uvicorn, PyJWT only when serving
    except ImportError as exc:
        raise BmdkbError(Problem("bmdkb serve", "", f"the service's dependencies are not installed ({exc.name}): "
                                 f"{SERVE_EXTRA}")) from None
    return config, server


@click.command(epilog=exitstatus.epilog("serve"))
@kb_option
@click.option("--host", default=None, help="Address to listen on.  [default: 127.0.0.1]")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port to listen on.  [default: 8080]")
@click.option("--facility", "facility_file", type=click.Path(dir_okay=False), default=None,
              help="The facility's least significant change per site (the case's `facility` block, optionally "
                   "keyed by scanner id), as for `evaluate`.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="YAML settings: trusted issuers and their keys, public_url, CORS origins, limits, card groups "
                   "(README: CDS Hooks service). Options given here win over the file.")
@click.option("--mode", type=click.Choice(["preview", "production"]), default=None,
              help="production: approved content only (what is withheld is counted on the card); preview: "
                   "everything, unapproved content with a caution.  [default: preview]")
@click.option("--public-url", default=None, metavar="URL",
              help="The address clients call (behind a proxy): JWT `aud` is checked against it and links point there.")
@click.option("--cors-origin", "cors_origins", multiple=True, metavar="ORIGIN",
              help="Allow browser calls from ORIGIN (repeatable), e.g. https://sandbox.cds-hooks.org.")
@click.option("--feedback-store", default=None, type=click.Path(dir_okay=False),
              help="The append-only feedback file.  [default: bmdkb-feedback.jsonl]")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Evaluate calls in this many worker processes, about one per core (1: in the server's own "
                   "process, one call at a time).  [default: 1]")
@click.option("--allow-unsigned", is_flag=True, default=None,
              help="Accept requests without a JWT. Local development only: said loudly in the log.")
def serve(kb_root, host, port, facility_file, config_file, mode, public_url, cors_origins, feedback_store,
          workers, allow_unsigned):
    """Serve the knowledge base as a CDS Hooks service on HOST:PORT until interrupted.

    GET /cds-services is the discovery document (one patient-view service); POST
    /cds-services/ID answers with cards, one per clinical question, each citing its source
    passages, which the service itself serves as pages. Every call must carry the CDS client's
    JWT (ES384 or RS384, from an issuer in --config) unless --allow-unsigned.
    """
    config, server = _service_modules()
    settings = config.read(config_file, host=host, port=port, mode=mode, public_url=public_url,
                           cors_origins=tuple(cors_origins) or None, feedback_store=feedback_store,
                           allow_unsigned=allow_unsigned, facility_file=facility_file, kb_root=kb_root,
                           workers=workers)
    server.run(settings, root_path(settings.kb_root))
