"""Profiles, batch profiles, catalogue and the named fixture subjects."""

from __future__ import annotations

from credit_check_sandbox.process import SandboxProcess
from credit_check_sandbox.seed import SCENARIO_SUBJECTS as S

from credit_check_sdk._models import Catalog, Profile


def _profile(sandbox: SandboxProcess, sid: str) -> Profile:
    r = sandbox.request("GET", f"/v1/subjects/{sid}/profile")
    assert r.status_code == 200, r.text
    return Profile.model_validate(r.json())


def test_judgment_defaulter(sandbox: SandboxProcess) -> None:
    p = _profile(sandbox, S["judgment_defaulter_bidder"].id)
    assert p.subject.kind == "legal_entity"
    assert p.subject.name == S["judgment_defaulter_bidder"].name
    [entry] = p.entries
    assert (entry.list, entry.category, entry.status) == (
        "black",
        "court_judgment_defaulter",
        "active",
    )
    assert entry.expires_on is None
    assert p.last_adverse_on == entry.listed_on
    assert p.as_of.utcoffset() is not None
    assert p.as_of.utcoffset().total_seconds() == 8 * 3600


def test_legal_representative_is_related(sandbox: SandboxProcess) -> None:
    p = _profile(sandbox, S["legal_rep_blacklisted"].id)
    assert p.entries == ()
    [rel] = p.related
    assert rel.role == "legal_representative"
    assert rel.subject.id == S["legal_rep_wage_arrears"].id
    assert rel.subject.kind == "natural_person"
    assert [e.category for e in rel.entries] == ["wage_arrears"]


def test_scenarios(sandbox: SandboxProcess) -> None:
    clean = _profile(sandbox, S["integrity_model_clean"].id)
    assert clean.last_adverse_on is None
    assert clean.record_since is not None
    assert [e.category for e in clean.entries] == ["integrity_model"]
    pending = _profile(sandbox, S["objection_pending"].id)
    assert [e.status for e in pending.entries] == ["objection_pending"]
    repaired = _profile(sandbox, S["repaired"].id)
    assert [e.status for e in repaired.entries] == ["repaired"]
    expired = _profile(sandbox, S["expired"].id)
    statuses = {e.category: (e.status, e.expires_on) for e in expired.entries}
    assert statuses["statistics"][0] == "expired"
    assert statuses["quality"][0] == "active"
    assert statuses["quality"][1] is not None
    assert statuses["quality"][1] < expired.as_of.date()
    both = _profile(sandbox, S["red_and_black"].id)
    assert {e.list for e in both.entries} == {"red", "black"}
    nothing = _profile(sandbox, S["clean_no_entries"].id)
    assert nothing.entries == ()
    assert nothing.last_adverse_on is None
    assert nothing.related  # a legal representative, clean
    tax = _profile(sandbox, S["tax_grade_a"].id)
    assert [e.category for e in tax.entries] == ["tax_credit_a"]


def test_unknown_valid_subject_is_empty(sandbox: SandboxProcess) -> None:
    p = _profile(sandbox, S["unknown_subject"].id)
    assert p.entries == ()
    assert p.related == ()
    assert p.record_since is None
    assert p.last_adverse_on is None
    assert p.subject.name is None


def test_person_id_is_normalised(sandbox: SandboxProcess) -> None:
    p = _profile(sandbox, S["legal_rep_wage_arrears"].id.lower())
    assert p.subject.kind == "natural_person"


def test_invalid_subject_is_400(sandbox: SandboxProcess) -> None:
    r = sandbox.request("GET", "/v1/subjects/91442000MA4UC00018/profile")
    assert r.status_code == 400
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert "checksum" in r.json()["detail"]


def test_personal_ids_are_masked_in_logs(sandbox: SandboxProcess) -> None:
    person = S["legal_rep_wage_arrears"].id
    assert sandbox.request("GET", f"/v1/subjects/{person}/profile").status_code == 200
    assert sandbox.request("GET", f"/v1/subjects/{person[:-1]}9/profile").status_code == 400
    assert person not in sandbox.log_tail(10_000)


def test_batch(sandbox: SandboxProcess) -> None:
    ids = [S["tax_grade_a"].id, "not-an-id", S["unknown_subject"].id, S["tax_grade_a"].id]
    r = sandbox.request("POST", "/v1/profiles:batch", json={"subject_ids": ids})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [p["subject"]["id"] for p in body["profiles"]] == [ids[0], ids[2], ids[0]]
    assert [i["subject_id"] for i in body["invalid"]] == ["not-an-id"]
    for p in body["profiles"]:
        Profile.model_validate(p)


def test_batch_limits(sandbox: SandboxProcess) -> None:
    r = sandbox.request("POST", "/v1/profiles:batch", json={"subject_ids": []})
    assert r.status_code == 400
    r = sandbox.request(
        "POST", "/v1/profiles:batch", json={"subject_ids": [S["tax_grade_a"].id] * 201}
    )
    assert r.status_code == 413
    r = sandbox.request("POST", "/v1/profiles:batch", json={"ids": []})
    assert r.status_code == 400
    assert r.headers["Content-Type"].startswith("application/problem+json")
    r = sandbox.request("POST", "/v1/profiles:batch", data=b"{not json")
    assert r.status_code == 400


def test_catalog_etag(sandbox: SandboxProcess) -> None:
    r = sandbox.request("GET", "/v1/catalog")
    assert r.status_code == 200
    catalog = Catalog.model_validate(r.json())
    assert catalog.measures
    etag = r.headers["ETag"]
    again = sandbox.request("GET", "/v1/catalog", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["ETag"] == etag
    assert again.content == b""
    other = sandbox.request("GET", "/v1/catalog", headers={"If-None-Match": '"other"'})
    assert other.status_code == 200


def test_fastapi_validation_errors_are_problems(sandbox: SandboxProcess) -> None:
    r = sandbox.request("GET", "/v1/lists/changes", params={"limit": "abc"})
    assert r.status_code == 400
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert r.json()["status"] == 400


def test_ambiguous_digit_id_is_a_person(sandbox: SandboxProcess) -> None:
    from stdnum.cn import ric, uscc

    # Find an all-digit RIC that is also a valid USCC: the path has no kind, so the
    # platform takes it as a natural person rather than refusing it.
    for seq in range(1000):
        body = f"44200019900101{seq:03d}"
        number = body + ric.calc_check_digit(body + "0")
        if uscc.is_valid(number):
            break
    p = _profile(sandbox, number)
    assert p.subject.kind == "natural_person"
