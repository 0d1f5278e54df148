"""The editorial board's web page (`bmdkb board`): server-rendered pages over the same ledger,
roster and governance functions as `bmdkb review`.

One job per module: ``config`` (what the operator configured), ``sessions`` (signed-in
sessions, one-time sign-in codes, CSRF tokens), ``guard`` (who a request is from and whether a
form post may act: the trusted sign-on header, the session cookie, the Origin and CSRF checks),
``conditions`` (a rule's conditions in words), ``passages`` (a quote highlighted in its
registered source), ``baseline`` (the version last approved, found in git, and the diff to it),
``pages`` (the data each page shows, read from the engine), ``decisions`` (a form post turned
into one ``governance.decide`` call), ``app`` (routes, templates, security headers).
"""
