"""Exit statuses of every `bmdkb` command: one place, so no command invents its own.

0 OK         the command did what was asked and found nothing wrong
1 DEFECT     bmdkb itself failed (a bug): a short message, never a traceback
2 BAD_INPUT  bad input or a bad knowledge base, or a request refused (the message names the
             file and field; nothing else is printed or written)
3 FINDINGS   the command ran and its result is a failure: lint findings at or above --fail-on,
             failing rule tests or coverage below --threshold, a ledger that fails
             `review verify`

`evaluate`'s contract (0 evaluated, 2 bad input, 1 defect) is unchanged: it has no findings.
A broken pipe (`| head`) never turns a status into 0: the command's status is decided before
its report is printed, and that status is the exit status even when the reader went away.
"""
from __future__ import annotations

OK = 0
DEFECT = 1
BAD_INPUT = 2
FINDINGS = 3
INTERRUPTED = 130  # Ctrl-C (batch: the output holds the cases done so far)

NAMES = {OK: "ok", DEFECT: "defect", BAD_INPUT: "bad input", FINDINGS: "findings", INTERRUPTED: "interrupted"}

# What each status means for each command; the README's table and every command's --help show this.
BY_COMMAND: dict[str, dict[int, str]] = {
    "evaluate": {OK: "every case evaluated", BAD_INPUT: "a bad case, bad knowledge base or release mismatch "
                 "(nothing is printed)"},
    "validate": {OK: "the knowledge base and every case are valid", BAD_INPUT: "problems listed, each with file "
                 "and field"},
    "explain": {OK: "explanation printed", BAD_INPUT: "a bad case, an unknown code or a bad knowledge base"},
    "batch": {OK: "every case evaluated", BAD_INPUT: "some cases are bad input (see their error lines), or the "
              "run was refused (output is the input, no output folder, --resume of another run, disk full)",
              DEFECT: "a defect of bmdkb on some case (its error line says so)", INTERRUPTED: "interrupted (Ctrl-C): "
              "--resume continues"},
    "lint": {OK: "no finding at or above --fail-on", FINDINGS: "findings at or above --fail-on",
             BAD_INPUT: "not a knowledge-base root, or a bad --contract file"},
    "test": {OK: "every expectation held and coverage reached --threshold", FINDINGS: "a failing expectation or "
             "coverage below --threshold", BAD_INPUT: "a bad test file or knowledge base"},
    "release": {OK: "manifest and changelog written", BAD_INPUT: "refused, nothing written: bad version, lint "
                "errors, a review ledger that fails verification, a signed ledger without an editor's --key, no "
                "nameable knowledge-base root, the installed package, or a path leaving the root"},
    "diff": {OK: "diff printed (differences are not a failure)", BAD_INPUT: "a side is neither a knowledge-base "
             "root nor a git revision, or does not load"},
    "review": {OK: "decision recorded / report printed", BAD_INPUT: "decision refused (nothing written): a "
               "missing or wrong signing key, a roster not adopted, bad knowledge base, no nameable root, the "
               "installed package, or a path leaving the root"},
    "board": {OK: "the server stopped (Ctrl-C)", BAD_INPUT: "refused to start: bad knowledge base, no nameable "
              "root, the installed package, a ledger outside the root, a key of no member, or an unsafe sign-in "
              "configuration"},
    "review verify": {OK: "hash chain and signatures intact (and, with --release, the anchored head)",
                      FINDINGS: "the ledger, the roster log or the release anchor fails verification (the first "
                      "broken entry is named)", BAD_INPUT: "bad knowledge-base root, or no manifest of that release"},
    "fhir to-case": {OK: "the case printed", BAD_INPUT: "not a FHIR Bundle, not valid FHIR R4, a unit not "
                     "converted, results that disagree (the FHIR path is named; nothing is printed)"},
    "serve": {OK: "stopped (Ctrl-C or SIGTERM) after finishing the requests in flight", BAD_INPUT: "refused to "
              "start: a bad setting (--workers too), --config or --facility file, a bad knowledge base, or the "
              "service's dependencies not installed", DEFECT: "a defect of bmdkb, or evaluation workers that "
              "could not start"},
    "feedback": {OK: "summary printed", BAD_INPUT: "no such feedback store, or not readable"},
}


def epilog(command: str) -> str:
    """The `Exit status:` paragraph of a command's --help (statuses 1 and 130 are shared)."""
    meanings = dict(BY_COMMAND[command])
    meanings.setdefault(DEFECT, "a defect of bmdkb (please report it)")
    parts = [f"{code} {meanings[code]}" for code in sorted(meanings)]
    return "\b\nExit status:\n" + "\n".join(f"  {p}" for p in parts)
