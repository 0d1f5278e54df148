"""DXA Observations read into the case's scans: grouped by date and Device, each LOINC code as a
site and value (BMD or T-score), the hip side from a lateralised code or a bodySite laterality, the
spine region from bodySite.text, the "Femur" codes as the femoral neck unless a bodySite names
another femoral region; body weight joined to the scan of its day."""
from __future__ import annotations

from bmdkb.engine.adapters.dxa.fhir_reading import READ_STATUSES, Reading, effective
from bmdkb.engine.fhir.bundle import Entry, codes


def scans(r: Reading, paths: dict) -> list[dict]:
    """The case's scans, in date order, from the Bundle's DXA and body-weight Observations;
    ``paths`` gets the FHIR path of each field read."""
    b = r.binding
    observations = b.observations
    groups: dict = {}         # date -> {"scanner_key": ..., "obs": [...]}
    weights = []
    for e in r.reader.of_type("Observation"):
        found = codes(e.resource.get("code"), e.at("code"), b.loinc)
        spec = next((observations[c.code] for c in found if c.code in observations), None)
        if spec is None or ("site" not in spec and "scan" not in spec):
            continue
        r.read_entries.add(e.index)
        code = next(c for c in found if c.code == spec["code"])
        status = e.resource.get("status")
        if status not in READ_STATUSES:
            r.unmapped.append(f"{e.path}: {spec['code']} ({spec['display']}) has status {status!r}: not read "
                              f"(read: {', '.join(READ_STATUSES)})")
            continue
        date, date_path = effective(e)
        if date is None:
            r.problem(e.at("effectiveDateTime"), f"{spec['display']} has no effective date: a scan needs its date")
            continue
        if "scan" in spec:
            weights.append((date, e, spec))
            continue
        groups.setdefault(date, []).append((e, spec, code, date_path))

    scans = []
    for date in sorted(groups):
        by_scanner: dict = {}
        for item in groups[date]:
            scanner, scanner_paths = _scanner(r, item[0])
            by_scanner.setdefault(scanner.get("id") or scanner.get("manufacturer"), []).append((item, scanner, scanner_paths))
        keyed = [k for k in by_scanner if k is not None]
        if None in by_scanner and len(keyed) == 1:   # results without a Device join the day's one scanner
            by_scanner[keyed[0]] += by_scanner.pop(None)
        for key in sorted(by_scanner, key=lambda k: (k is not None, str(k))):
            scans.append(_one_scan(r, date, by_scanner[key]))
    scans.sort(key=lambda s: s[0]["date"])
    case_scans = []
    for i, (scan, scan_paths) in enumerate(scans):
        for sub, fhir in scan_paths.items():
            paths[f"scans[{i}]{sub}"] = fhir
        case_scans.append(scan)
    _weights(r, weights, case_scans, paths)
    return case_scans



def _scanner(r: Reading, e: Entry):
    device = r.reader.resolve(e.resource.get("device"))
    if device is None or device.type != "Device":
        return {}, {}
    d = device.resource
    scanner, where = {}, {}
    if isinstance(d.get("manufacturer"), str):
        scanner["manufacturer"], where[".scanner.manufacturer"] = d["manufacturer"], device.at("manufacturer")
    if isinstance(d.get("modelNumber"), str):
        scanner["model"], where[".scanner.model"] = d["modelNumber"], device.at("modelNumber")
    elif d.get("deviceName") and isinstance(d["deviceName"][0].get("name"), str):
        scanner["model"], where[".scanner.model"] = d["deviceName"][0]["name"], device.at("deviceName", 0, "name")
    if isinstance(d.get("serialNumber"), str):
        scanner["id"], where[".scanner.id"] = d["serialNumber"], device.at("serialNumber")
    elif d.get("identifier") and isinstance(d["identifier"][0].get("value"), str):
        scanner["id"], where[".scanner.id"] = d["identifier"][0]["value"], device.at("identifier", 0, "value")
    return scanner, where


def _one_scan(r: Reading, date: str, items: list):
    scan: dict = {"date": date}
    where: dict = {}
    sites: dict = {}
    for (e, spec, code, date_path), scanner, scanner_paths in items:
        if "" not in where:
            where[""], where[".date"] = e.path, date_path
        if scanner and "scanner" not in scan:
            scan["scanner"] = scanner
            where.update(scanner_paths)
        site, value_field = spec["site"], spec["value"]
        side, side_path = _side(r, e, spec, code)
        if site == "femoral_neck" and not _femoral_neck(r, e):
            continue
        r.used(spec, f"{spec['code']} ({spec['display']})")
        value = r.quantity(e, value_field)
        if value is None:
            continue
        values = sites.setdefault(site, {})
        prefix = f".sites.{site}"
        if value_field in values:
            if values[value_field] != value:
                r.problem(e.at("valueQuantity", "value"),
                          f"{spec['display']} on {date} is {value}, but {where[f'{prefix}.{value_field}']} gives "
                          f"{values[value_field]}: two results for one site and date disagree")
            else:
                r.note(f"{e.path}: repeats {site} {value_field} of {date} ({value}); read once")
            continue
        values[value_field] = value
        where[f"{prefix}.{value_field}"] = e.at("valueQuantity", "value")
        if site == "lumbar_spine":
            region = (e.resource.get("bodySite") or {}).get("text")
            if isinstance(region, str) and region.strip() and "region" not in values:
                values["region"], where[f"{prefix}.region"] = region, e.at("bodySite", "text")
        elif side is not None:
            if "side" in values and values["side"] != side:
                r.problem(side_path, f"{site} on {date} is read as {side} here but {values['side']} at "
                                     f"{where[f'{prefix}.side']}: one scan, two sides")
            elif "side" not in values:
                values["side"], where[f"{prefix}.side"] = side, side_path
    if sites:
        scan["sites"] = sites
    return scan, where


def _body_site_codes(r: Reading, e: Entry):
    """(focus concept, refinement values, path) of each SNOMED CT coding of bodySite; a
    post-coordinated expression 71341001:272741003=7771000 gives focus 71341001, refinements {7771000}."""
    found = []
    for c in codes(e.resource.get("bodySite"), e.at("bodySite"), r.binding.snomed):
        focus, _, refinements = c.code.partition(":")
        values = {part.partition("=")[2].strip() for part in refinements.split(",") if "=" in part}
        found.append((focus.strip(), values, c.path))
    return found


def _side(r: Reading, e: Entry, spec: dict, code) -> tuple:
    laterality = {x["code"]: x for x in r.binding.doc.get("body_sites", {}).get("laterality", [])}
    from_site = None
    for focus, values, path in _body_site_codes(r, e):
        for concept in {focus} | values:
            if concept in laterality:
                from_site = (laterality[concept]["side"], path)
                r.used(laterality[concept], f"laterality {concept}")
    if spec.get("side"):
        if from_site and from_site[0] != spec["side"]:
            r.problem(from_site[1], f"bodySite says {from_site[0]} but the code {spec['code']} is {spec['side']}")
        return spec["side"], code.path
    return from_site if from_site else (None, None)


def _femoral_neck(r: Reading, e: Entry) -> bool:
    """Whether a "Femur" result is read as the femoral neck: yes unless its bodySite names another
    femoral sub-region (a bodySite of the neck of femur confirms it)."""
    sites = r.binding.doc.get("body_sites", {})
    neck = (sites.get("femoral_neck") or {}).get("code")
    whole = {x["code"] for x in sites.get("femur_whole", [])}
    lateral = {x["code"] for x in sites.get("laterality", [])}
    body = _body_site_codes(r, e)
    other = [(focus, path) for focus, _, path in body if focus not in whole | lateral | {neck}]
    if other:
        r.unmapped.append(f"{e.path}: a Femur result with bodySite {other[0][0]} (a femoral region other than the "
                          "neck): not read as the femoral neck")
        return False
    if any(focus == neck for focus, _, _ in body):
        r.used(sites["femoral_neck"], f"bodySite {neck} (neck of femur)")
    else:
        r.note("the LOINC \"Femur\" results are read as the femoral neck (as the US Core DXA report pairs Hip and "
               "Femur); a bodySite of another femoral region would stop that")
    return True


def _weights(r: Reading, weights: list, scans: list, paths: dict) -> None:
    index = {s["date"]: i for i, s in enumerate(scans)}
    for date, e, spec in weights:
        if date not in index:
            r.unmapped.append(f"{e.path}: body weight of {date}: no DXA scan that day")
            continue
        i = index[date]
        value = r.quantity(e, "weight_kg")
        if value is None:
            continue
        r.used(spec, f"{spec['code']} ({spec['display']})")
        if "weight_kg" in scans[i] and scans[i]["weight_kg"] != value:
            r.problem(e.at("valueQuantity", "value"), f"body weight on {date} is {value} here but "
                      f"{scans[i]['weight_kg']} at {paths[f'scans[{i}].weight_kg']}: two weights for one scan disagree")
            continue
        scans[i]["weight_kg"] = value
        paths[f"scans[{i}].weight_kg"] = e.at("valueQuantity", "value")
