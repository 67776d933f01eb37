"""Subject ids: normalisation, checksums, kind inference and masking, property-based.

Valid ids are built with python-stdnum's own check-digit functions, so these
tests check ``credit_check_sdk._ids`` against an independent construction.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from stdnum.cn import ric, uscc

from credit_check_sdk import InvalidSubjectError, Subject
from credit_check_sdk._ids import (
    SubjectKind,
    is_public_uscc,
    mask_id,
    mask_ids_in,
    normalize_id,
    ric_problem,
    validate_id,
)
from credit_check_sdk._time import today

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# Region codes stdnum knows for every birth year drawn below (1990-2008).
RIC_REGIONS = ("442000", "440101", "440300", "110101", "310101")

settings.register_profile("ids", max_examples=150, deadline=None)
settings.load_profile("ids")


@st.composite
def usccs(draw: st.DrawFn, *, with_letter: bool = True) -> str:
    """A checksum-valid USCC; with a letter, so that it cannot also be a RIC."""
    head = draw(st.sampled_from(("91", "92", "93", "11", "12", "51", "52")))
    region = draw(st.sampled_from(("442000", "440101", "440300", "110000")))
    body = draw(st.text(USCC_ALPHABET, min_size=9, max_size=9))
    if with_letter and body.isdigit():
        body = body[:4] + draw(st.sampled_from("ABCDEFGHJKLMNPQRTUWXY")) + body[5:]
    number = head + region + body
    return number + uscc.calc_check_digit(number)


@st.composite
def rics(draw: st.DrawFn) -> str:
    """A valid RIC: a known region, a real birth date, a sequence number, the check digit."""
    region = draw(st.sampled_from(RIC_REGIONS))
    born = draw(st.dates(min_value=date(1990, 1, 1), max_value=date(2008, 12, 31)))
    seq = draw(st.integers(0, 999))
    number = f"{region}{born:%Y%m%d}{seq:03d}"
    # calc_check_digit expects the number with a (placeholder) check digit.
    return number + ric.calc_check_digit(number + "0")


def _full_width(c: str) -> str:
    return chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c


@st.composite
def typed_like_a_person(draw: st.DrawFn, number: str) -> str:
    """``number`` as typed at a counter: spaces, full-width characters, lower case."""
    out = []
    for c in number:
        style = draw(st.sampled_from(("plain", "wide", "lower", "space_before")))
        if style == "wide":
            c = _full_width(c)
        elif style == "lower":
            c = c.lower()
        elif style == "space_before":
            c = draw(st.sampled_from((" ", "\u3000", "\t"))) + c
        out.append(c)
    return draw(st.sampled_from(("", " ", "\u3000"))) + "".join(out) + draw(st.just(" "))


def _ambiguous_ids() -> list[str]:
    """All-digit ids that are valid both as a USCC and as a RIC."""
    found = []
    for seq in range(1000):
        stem = f"44200019900101{seq:03d}"
        number = stem + ric.calc_check_digit(stem + "0")
        if uscc.is_valid(number) and ric.is_valid(number):
            found.append(number)
    return found


AMBIGUOUS = _ambiguous_ids()


# --- the generators themselves -----------------------------------------------------


def test_the_generators_make_what_they_claim() -> None:
    assert AMBIGUOUS, "expected some all-digit ids valid both ways"
    assert ric.is_valid("442000199001011292")
    assert uscc.is_valid("442000199001011292")


# --- normalisation ------------------------------------------------------------------


@given(usccs(), st.data())
def test_uscc_round_trips_through_normalisation(number: str, data: st.DataObject) -> None:
    typed = data.draw(typed_like_a_person(number))
    assert normalize_id(typed) == number
    assert validate_id(typed) == (number, "legal_entity")
    assert Subject(typed).id == number


@given(rics(), st.data())
def test_ric_round_trips_through_normalisation(number: str, data: st.DataObject) -> None:
    typed = data.draw(typed_like_a_person(number))
    # One RIC in about 31 is also a valid all-digit USCC; those need the kind.
    kind: SubjectKind | None = "natural_person" if uscc.is_valid(number) else None
    assert validate_id(typed, kind) == (number, "natural_person")
    assert Subject(typed, kind) == Subject(number, "natural_person")


def test_full_width_and_lower_case_examples() -> None:
    wide = "９１４４２０００ｍａ４ＵＪ２ＫＱ５７"
    assert validate_id(wide) == ("91442000MA4UJ2KQ57", "legal_entity")
    spaced = " 4420 0019 9001 0112 92 "
    assert validate_id(spaced, "natural_person") == ("442000199001011292", "natural_person")
    wide_person = "４４２０００\u3000１９９００１０１１２９２"
    assert validate_id(wide_person, "natural_person")[0] == "442000199001011292"


def test_lower_case_check_x() -> None:
    stem = "44200019900101"
    numbers = [stem + f"{s:03d}" for s in range(1000)]
    with_x = next(n + "X" for n in numbers if ric.calc_check_digit(n + "0") == "X")
    assert validate_id(with_x.lower()) == (with_x, "natural_person")


# --- corruption ---------------------------------------------------------------------

REPLACEMENTS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ#*"


def _corrupt(number: str, position: int, replacement: str) -> str:
    return number[:position] + replacement + number[position + 1 :]


@given(st.one_of(usccs(), rics()), st.integers(0, 17), st.sampled_from(REPLACEMENTS))
def test_any_single_character_corruption_is_caught(
    number: str, position: int, replacement: str
) -> None:
    assume(replacement != number[position])
    kind: SubjectKind = "natural_person" if ric.is_valid(number) else "legal_entity"
    bad = _corrupt(number, position, replacement)
    with pytest.raises(InvalidSubjectError) as caught:
        validate_id(bad, kind)
    assert isinstance(caught.value, ValueError)
    assert bad not in str(caught.value) or not bad[:17].isdigit()
    # Without a kind, a corrupted id is refused unless it happens to be a valid id of the
    # other kind (which stdnum, independently, must then confirm).
    try:
        _, inferred = validate_id(bad)
    except InvalidSubjectError:
        return
    assert inferred != kind
    assert (uscc if inferred == "legal_entity" else ric).is_valid(bad)


@given(st.one_of(usccs(), rics()), st.integers(0, 17))
def test_a_dropped_character_is_caught(number: str, position: int) -> None:
    with pytest.raises(InvalidSubjectError) as caught:
        validate_id(number[:position] + number[position + 1 :])
    assert caught.value.reason == "length"


def test_invalid_birth_date_and_region_are_caught() -> None:
    stem = "44200019900231123"  # 31 February
    with pytest.raises(InvalidSubjectError):
        validate_id(stem + ric.calc_check_digit(stem + "0"), "natural_person")
    stem = "00000019900101123"  # no such region
    with pytest.raises(InvalidSubjectError):
        validate_id(stem + ric.calc_check_digit(stem + "0"), "natural_person")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [("", "empty"), ("   ", "empty"), ("91442000MA4UJ2KQ5", "length"), ("9" * 19, "length")],
)
def test_bad_shapes(raw: str, reason: str) -> None:
    with pytest.raises(InvalidSubjectError) as caught:
        validate_id(raw)
    assert caught.value.reason == reason


def test_a_non_string_is_refused() -> None:
    with pytest.raises(InvalidSubjectError):
        validate_id(91442000)  # type: ignore[arg-type]


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(InvalidSubjectError):
        validate_id("91442000MA4UJ2KQ57", "company")  # type: ignore[arg-type]


# --- kind inference -------------------------------------------------------------------


@given(usccs())
def test_a_uscc_is_a_legal_entity(number: str) -> None:
    assert validate_id(number)[1] == "legal_entity"
    with pytest.raises(InvalidSubjectError):
        validate_id(number, "natural_person")


@given(rics())
def test_a_ric_is_a_natural_person(number: str) -> None:
    assume(not uscc.is_valid(number))
    assert validate_id(number)[1] == "natural_person"
    with pytest.raises(InvalidSubjectError):
        validate_id(number, "legal_entity")


@settings(suppress_health_check=[HealthCheck.filter_too_much])
@given(st.sampled_from(AMBIGUOUS))
def test_an_id_valid_both_ways_needs_a_kind(number: str) -> None:
    with pytest.raises(InvalidSubjectError) as caught:
        validate_id(number)
    assert caught.value.reason == "ambiguous"
    assert "kind" in str(caught.value)
    assert number not in str(caught.value)  # the message masks it
    assert validate_id(number, "legal_entity") == (number, "legal_entity")
    assert validate_id(number, "natural_person") == (number, "natural_person")
    assert Subject(number, "natural_person").kind == "natural_person"


# --- masking ----------------------------------------------------------------------------


def test_mask_id_example() -> None:
    assert mask_id("442000199001011234") == "4420**********1234"


@given(rics())
def test_a_ric_is_masked(number: str) -> None:
    masked = mask_id(number)
    assert masked == number[:4] + "*" * 10 + number[-4:]
    assert len(masked) == 18


@given(usccs())
def test_a_uscc_with_letters_stays_whole(number: str) -> None:
    assert mask_id(number) == number


@given(rics(), st.text(max_size=20), st.text(max_size=20))
def test_mask_ids_in_free_text(number: str, before: str, after: str) -> None:
    # Separate the id from the surrounding text the way log lines do.
    text = f"{before} 主体 {number}: 查询失败 {after}"
    masked = mask_ids_in(text)
    assert number not in masked
    assert f"{number[:4]}**********{number[-4:]}" in masked


@given(rics())
def test_mask_ids_in_urls_and_lower_case_x(number: str) -> None:
    url = f"GET /api/v1/subjects/{number.lower()}/profile?x=1"
    masked = mask_ids_in(url)
    assert number.lower() not in masked
    assert masked.startswith("GET /api/v1/subjects/" + number[:4] + "*" * 10)


def test_mask_ids_in_leaves_longer_runs_and_uscc_alone() -> None:
    assert mask_ids_in("91442000MA4UJ2KQ57") == "91442000MA4UJ2KQ57"
    long_run = "1" * 25
    assert mask_ids_in(long_run) == long_run


# --- RICs by their GB 11643 structure, not by the history of region codes ---------------

PROVINCES = sorted(
    str(n)
    for n in (*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47), *range(50, 55),
              *range(61, 66), 71, 81, 82, 83)
)  # fmt: skip


def _with_check_digit(stem: str) -> str:
    """GB 11643's check character, computed here from the standard's weights."""
    total = sum(int(d) * (2 ** (17 - i) % 11) for i, d in enumerate(stem))
    return stem + "10X98765432"[total % 11]


@st.composite
def structural_rics(draw: st.DrawFn) -> str:
    """Any region code with a province prefix, any real birth date 1900..today."""
    region = draw(st.sampled_from(PROVINCES)) + f"{draw(st.integers(0, 9999)):04d}"
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=today()))
    return _with_check_digit(f"{region}{born:%Y%m%d}{draw(st.integers(0, 999)):03d}")


@given(structural_rics())
def test_every_structurally_valid_ric_is_accepted(number: str) -> None:
    assert validate_id(number, "natural_person") == (number, "natural_person")
    assert ric_problem(number) is None
    # Never shown whole, whichever way it is taken.
    assert number not in mask_id(number)


@given(structural_rics(), st.integers(1, 10))
def test_a_wrong_check_digit_is_refused(number: str, shift: int) -> None:
    wrong = "0123456789X"[("0123456789X".index(number[-1]) + shift) % 11]
    bad = number[:-1] + wrong
    with pytest.raises(InvalidSubjectError) as caught:
        validate_id(bad, "natural_person")
    assert caught.value.reason == "the check digit is wrong"
    assert bad not in str(caught.value)
    assert bad not in caught.value.value


@given(
    st.sampled_from(PROVINCES),
    st.integers(1900, 2099),
    st.integers(0, 99),
    st.integers(0, 99),
)
def test_an_impossible_birth_date_is_refused(
    province: str, year: int, month: int, day: int
) -> None:
    try:
        date(year, month, day)
    except ValueError:
        pass
    else:
        assume(False)
    number = _with_check_digit(f"{province}0101{year:04d}{month:02d}{day:02d}123")
    with pytest.raises(InvalidSubjectError) as caught:
        validate_id(number, "natural_person")
    assert caught.value.reason == "the birth date is not a real date"


@given(st.sampled_from(PROVINCES), st.dates(min_value=today() + timedelta(days=1)))
def test_a_birth_date_in_the_future_is_refused(province: str, born: date) -> None:
    assume(born.year <= 9999)
    number = _with_check_digit(f"{province}0101{born:%Y%m%d}123")
    with pytest.raises(InvalidSubjectError) as caught:
        validate_id(number, "natural_person")
    assert caught.value.reason == "the birth date is in the future"


@given(st.dates(min_value=date(1000, 1, 1), max_value=date(1899, 12, 31)))
def test_an_absurdly_old_birth_date_is_refused(born: date) -> None:
    number = _with_check_digit(f"110101{born:%Y%m%d}123")
    with pytest.raises(InvalidSubjectError, match="before 1900-01-01"):
        validate_id(number, "natural_person")


@given(st.integers(0, 99).map(lambda p: f"{p:02d}"))
def test_a_region_code_without_a_province_is_refused(prefix: str) -> None:
    assume(prefix not in PROVINCES)
    number = _with_check_digit(f"{prefix}010119900101123")
    with pytest.raises(InvalidSubjectError, match="no such province"):
        validate_id(number, "natural_person")


def test_a_region_code_since_renamed_is_accepted() -> None:
    """python-stdnum refuses these: the code did not exist (or no longer did) at birth."""
    for stem in ("44200019800101123", "13010219751231001"):
        number = _with_check_digit(stem)
        assert not ric.is_valid(number)  # what the counter clerk could not check before
        assert validate_id(number) == (number, "natural_person")
        assert Subject(number).kind == "natural_person"


def test_the_check_digit_agrees_with_python_stdnum() -> None:
    for stem in ("11010519491231002", "44200019900101123", "81000019991231000"):
        assert _with_check_digit(stem)[-1] == ric.calc_check_digit(stem + "0")


# --- masking ids of every length ---------------------------------------------------------

# Of the shapes a personal number may take at a counter or in a spreadsheet.
PERSONAL_SHAPES = [
    "442000199001011234",  # a RIC
    "44200019900101123",  # 17: one digit dropped
    "4420001990010112345",  # 19: one too many
    "44200019900101123456",  # 20
    "442000900101123",  # the old 15-digit card
    "44200019900I011234",  # a letter typo
    "4420001990010112 3X".replace(" ", ""),  # with a check X
    "442000200213011990",  # a RIC typo that passes GB 32100's check by chance
]


@pytest.mark.parametrize("number", PERSONAL_SHAPES)
def test_a_personal_number_of_any_length_is_masked(number: str) -> None:
    masked = mask_id(number)
    assert len(masked) == len(number)
    assert masked.count("*") >= len(number) // 2
    assert number not in masked
    assert number not in mask_ids_in(f"id {number}, refused")
    assert masked in mask_ids_in(f"id {number}, refused")
    assert number not in mask_ids_in(f"主体{number}查询失败")


@pytest.mark.parametrize("number", PERSONAL_SHAPES)
def test_an_invalid_subject_error_masks_the_number(number: str) -> None:
    for kind in (None, "natural_person", "legal_entity"):
        try:
            validate_id(number, kind)  # type: ignore[arg-type]
        except InvalidSubjectError as exc:
            caught = exc
        else:  # 442000200213011990 passes GB 32100: a legal entity, if said to be one
            assert kind != "natural_person"
            assert uscc.is_valid(number)
            continue
        assert number not in str(caught)
        assert number not in caught.value
        assert number not in repr(caught)


@given(st.text("0123456789", min_size=14, max_size=24))
def test_every_digit_run_of_id_length_is_masked_unless_a_public_uscc(digits: str) -> None:
    masked = mask_ids_in(f"value {digits} end")
    if is_public_uscc(digits):
        assert digits in masked
    else:
        assert digits not in masked


def test_a_non_string_id_is_masked_in_the_error() -> None:
    with pytest.raises(InvalidSubjectError) as caught:
        validate_id(442000199001011234)  # type: ignore[arg-type]
    assert "442000199001011234" not in str(caught.value) + caught.value.value


@given(usccs())
def test_a_public_uscc_is_never_masked(number: str) -> None:
    assert is_public_uscc(number)
    assert mask_id(number) == number
    assert mask_ids_in(f"企业 {number} 已核查") == f"企业 {number} 已核查"


def test_all_digit_uscc_of_a_real_company_stays_whole() -> None:
    for number in ("914403001922038216", "91440300708461136T"):
        assert is_public_uscc(number)
        assert mask_ids_in(f"checked {number}") == f"checked {number}"


def test_an_id_valid_both_ways_is_masked_unless_said_to_be_a_legal_entity() -> None:
    number = AMBIGUOUS[0]
    assert mask_id(number) != number
    assert mask_id(number, "natural_person") != number
    assert mask_id(number, "legal_entity") == number


def test_hashes_and_uuids_are_left_alone() -> None:
    text = "check 3f2a9b1c-0d4e-4f5a-8b6c-7d8e9f0a1b2c hash " + "ab12" * 16
    assert mask_ids_in(text) == text
