"""The packaged default catalogue and the on-disk catalogue store."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from credit_check_sdk import categories
from credit_check_sdk._models import Catalog
from credit_check_sdk.catalogue import CatalogStore, default_catalog, known_matters, with_parameters

PLAN = "《中山市建立完善守信联合激励和失信联合惩戒制度的实施方案》"


class TestDefaultCatalog:
    cat = default_catalog()

    def test_validates_from_packaged_json(self) -> None:
        raw = (
            Path(__file__).parents[1] / "credit_check_sdk" / "data" / "catalog.json"
        ).read_bytes()
        assert Catalog.model_validate_json(raw) == self.cat
        assert self.cat.published_at.utcoffset() is not None
        assert self.cat.published_at.utcoffset().total_seconds() == 8 * 3600  # type: ignore[union-attr]

    def test_cached(self) -> None:
        assert default_catalog() is default_catalog()

    def test_covers_matters(self) -> None:
        assert {"licensing", "procurement", "bidding", "subsidy"} <= self.cat.matters()
        assert known_matters(self.cat) == sorted(self.cat.matters())

    def test_ids_unique_and_shaped(self) -> None:
        ids = [m.id for m in self.cat.measures]
        assert len(ids) == len(set(ids))
        for m in self.cat.measures:
            assert m.id.startswith("P-" if m.kind == "punishment" else "I-")

    def test_every_basis_cites_the_plan(self) -> None:
        for m in self.cat.measures:
            assert m.basis.startswith(PLAN), m.id
            assert "§二(" in m.basis or "§三(" in m.basis, m.id
            assert m.title.zh
            assert m.title.en

    def test_categories_are_known_ids(self) -> None:
        for m in self.cat.measures:
            known = categories.BLACK if m.trigger.list == "black" else categories.RED
            for c in m.trigger.categories:
                assert c in known, (m.id, c)

    def test_consistency(self) -> None:
        for m in self.cat.measures:
            if m.kind == "punishment":
                assert m.trigger.list == "black", m.id
            if m.trigger.clean_years is not None:
                assert m.kind == "incentive"
            else:
                assert m.trigger.list is not None
            assert (m.points is not None) == (m.effect == "bonus_points"), m.id

    @pytest.mark.parametrize(
        ("mid", "effect", "mandatory", "matters"),
        [
            ("P-BID-EXCLUDE", "restrict", True, {"bidding", "procurement"}),
            ("P-SUB-RESTRICT", "restrict", True, {"subsidy"}),
            ("P-LIC-STRICT-REVIEW", "strict_review", True, {"licensing"}),
            ("I-LIC-GREEN", "green_channel", False, {"licensing"}),
            ("I-LIC-GREEN-CLEAN3", "green_channel", False, {"licensing"}),
            ("I-LIC-TOLERANCE", "tolerance", False, {"licensing"}),
            ("I-LIC-TOLERANCE-CLEAN3", "tolerance", False, {"licensing"}),
            ("I-BID-POINTS", "bonus_points", False, {"bidding"}),
            ("I-SUB-PRIORITY", "priority", False, {"subsidy"}),
            ("I-INS-REDUCED", "reduced_inspection", False, {"inspection"}),
        ],
    )
    def test_required_measures(
        self, mid: str, effect: str, mandatory: bool, matters: set[str]
    ) -> None:
        m = next(x for x in self.cat.measures if x.id == mid)
        assert (m.effect, m.mandatory, set(m.matters)) == (effect, mandatory, matters)

    def test_roles(self) -> None:
        by_id = {m.id: m for m in self.cat.measures}
        assert by_id["P-BID-EXCLUDE"].trigger.roles == ("subject", "legal_representative")
        assert by_id["P-SUB-RESTRICT"].trigger.roles == (
            "subject",
            "legal_representative",
            "principal",
        )
        assert by_id["I-LIC-GREEN-CLEAN3"].trigger.clean_years == 3
        # §二(一): every red-list source it names is 诚信典型, and §二(二) gives 诚信典型
        # the green channel and tolerance.
        assert by_id["I-LIC-GREEN"].trigger.categories == categories.INTEGRITY_TYPICAL
        assert by_id["I-LIC-TOLERANCE"].trigger.categories == categories.INTEGRITY_TYPICAL
        assert set(categories.INTEGRITY_TYPICAL) <= set(by_id["I-HON-PRIORITY"].trigger.categories)
        assert "media_recommended" in categories.RED

    def test_has_recommended_punishment(self) -> None:
        assert any(m.kind == "punishment" and not m.mandatory for m in self.cat.measures)

    def test_covers_every_matter_the_plan_names(self) -> None:
        # Contract v2, change 1: §二(二)-(五), §三(二), §四(五).
        named = {
            "licensing": "§二(二)",
            "procurement": "§四(五)",
            "bidding": "§三(二)",
            "subsidy": "§三(二)",
            "intermediary": "§四(五)",
            "project_approval": "§三(二)",
            "concession": "§三(二)",
            "market_entry": "§三(二)",
            "honours": "§三(二)",
            "inspection": "§二(四)",
            "investment_policy": "§二(三)",
        }
        assert set(named) <= self.cat.matters()
        for matter, section in named.items():
            bases = [m.basis for m in self.cat.measures if matter in m.matters]
            assert any(section in b for b in bases), matter

    def test_the_force_of_each_measure_is_said_to_be_the_agencys(self) -> None:
        # §四(六) defines 强制性 and 推荐性 but classifies no measure: the catalogue says so,
        # and no basis presents the agency's classification as the plan's.
        for m in self.cat.measures:
            assert "本机关" in m.basis, m.id
            assert ("列为强制性措施为本机关" in m.basis) is m.mandatory, m.id
            assert "（推荐性措施，§四(六)）" not in m.basis, m.id

    def test_numbers_the_plan_does_not_fix_are_parameters(self) -> None:
        params = self.cat.parameters
        assert params["bonus_points"].value == 2.0
        assert params["commitment_working_days"].value == 10.0
        assert params["commitment_working_days"].unit == "working_days"
        assert params["list_term_years"].value == 3.0
        for p in params.values():
            assert "本机关" in p.basis or "沙箱" in p.basis
            assert p.title.zh
            assert p.title.en
        (points,) = [m for m in self.cat.measures if m.effect == "bonus_points"]
        assert points.points == params["bonus_points"].value
        assert "bonus_points" in points.basis

    def test_an_agency_sets_its_own_parameters(self) -> None:
        mine = with_parameters(self.cat, bonus_points=1.5, commitment_working_days=5)
        assert mine.version == self.cat.version + "+agency"
        assert mine.parameter("commitment_working_days") == 5.0
        assert [m.points for m in mine.measures if m.effect == "bonus_points"] == [1.5]
        assert self.cat.parameter("bonus_points") == 2.0  # the default is untouched
        with pytest.raises(KeyError, match="no parameter"):
            with_parameters(self.cat, surprise=1)
        with pytest.raises(KeyError, match="no parameter"):
            self.cat.parameter("surprise")
        assert self.cat.parameter("surprise", 7.0) == 7.0

    def test_person_side_roles_only_where_the_plan_punishes_people_for_a_company(self) -> None:
        of_roles = {
            m.id: {r for r in m.trigger.roles if r.endswith("_of")} for m in self.cat.measures
        }
        assert of_roles["P-ENTRY-BAR"] == {
            "legal_representative_of",
            "principal_of",
            "responsible_person_of",
        }
        assert of_roles["P-HON-EXCLUDE-PERSON"] == {
            "legal_representative_of",
            "principal_of",
            "senior_manager_of",
            "responsible_person_of",
        }
        others = {mid for mid, roles in of_roles.items() if roles}
        assert others == {"P-ENTRY-BAR", "P-HON-EXCLUDE-PERSON"}


# --- the store -----------------------------------------------------------------------


def _variant(version: str) -> tuple[Catalog, bytes]:
    data = json.loads(default_catalog().model_dump_json())
    data["version"] = version
    raw = json.dumps(data, ensure_ascii=False).encode()
    return Catalog.model_validate_json(raw), raw


class TestCatalogStore:
    def test_empty(self, tmp_path: Path) -> None:
        store = CatalogStore(tmp_path / "nope")
        assert store.load() is None
        assert store.version("2026.11.1") is None
        assert store.versions() == []

    def test_round_trip(self, tmp_path: Path) -> None:
        store = CatalogStore(tmp_path)
        cat, raw = _variant("2026.11.1")
        store.save(cat, 'W/"abc"', raw)
        assert store.load() == (cat, 'W/"abc"')
        assert (tmp_path / "catalog-current.json").read_bytes() == raw  # bytes as received
        assert (tmp_path / "etag").read_text() == 'W/"abc"'
        assert (tmp_path / "versions" / "2026.11.1.json").read_bytes() == raw
        # A fresh store on the same directory sees the same state.
        assert CatalogStore(tmp_path).load() == (cat, 'W/"abc"')

    def test_versions_kept(self, tmp_path: Path) -> None:
        store = CatalogStore(tmp_path)
        c1, r1 = _variant("2026.11.1")
        c2, r2 = _variant("2027.01.1")
        store.save(c1, '"1"', r1)
        store.save(c2, '"2"', r2)
        assert store.load() == (c2, '"2"')
        assert store.version("2026.11.1") == c1
        assert store.version("2027.01.1") == c2
        assert store.versions() == ["2026.11.1", "2027.01.1"]

    def test_no_etag_removes_old_one(self, tmp_path: Path) -> None:
        store = CatalogStore(tmp_path)
        c1, r1 = _variant("1")
        c2, r2 = _variant("2")
        store.save(c1, '"1"', r1)
        store.save(c2, None, r2)
        assert store.load() == (c2, None)
        assert not (tmp_path / "etag").exists()

    def test_hostile_version_stays_inside(self, tmp_path: Path) -> None:
        store = CatalogStore(tmp_path / "store")
        cat, raw = _variant("../../escape")
        store.save(cat, None, raw)
        assert store.version("../../escape") == cat
        assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]
        assert len(list((tmp_path / "store" / "versions").iterdir())) == 1

    def test_mismatched_bytes_refused(self, tmp_path: Path) -> None:
        store = CatalogStore(tmp_path)
        c1, _ = _variant("1")
        _, r2 = _variant("2")
        with pytest.raises(ValueError, match="version"):
            store.save(c1, '"x"', r2)
        with pytest.raises(ValueError, match="not a valid"):
            store.save(c1, '"x"', b"{not json")
        assert store.load() is None

    def test_corrupt_current_is_absent(self, tmp_path: Path) -> None:
        store = CatalogStore(tmp_path)
        cat, raw = _variant("1")
        store.save(cat, '"1"', raw)
        (tmp_path / "catalog-current.json").write_bytes(raw[: len(raw) // 2])
        assert store.load() is None
        assert store.version("1") == cat  # the version copy is untouched

    def test_atomic_no_temp_files_left(self, tmp_path: Path) -> None:
        store = CatalogStore(tmp_path)
        for v in ("1", "2", "3"):
            cat, raw = _variant(v)
            store.save(cat, f'"{v}"', raw)
        leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
        assert leftovers == []

    def test_failed_write_keeps_previous(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        store = CatalogStore(tmp_path)
        c1, r1 = _variant("1")
        store.save(c1, '"1"', r1)
        c2, r2 = _variant("2")
        real_replace = os.replace

        def failing_replace(src: str, dst: str | Path) -> None:
            if str(dst).endswith("catalog-current.json"):
                raise OSError("disk full")
            real_replace(src, dst)

        monkeypatch.setattr(os, "replace", failing_replace)
        with pytest.raises(OSError, match="disk full"):
            store.save(c2, '"2"', r2)
        monkeypatch.undo()
        # The old catalogue is whole; its ETag was dropped first, so the next
        # fetch is a full download rather than a 304 for the wrong version.
        assert store.load() == (c1, None)
        assert [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")] == []
