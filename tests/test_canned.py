"""Canned replies: one code, one text per locale, expanded for the person's language."""

from pathlib import Path

import pytest

from services.canned import CannedError, load_canned


def test_the_shipped_library_has_every_code_in_every_locale() -> None:
    library = load_canned()
    assert "wait" in library.codes
    assert library.expand("#wait", "ru") == library.text("wait", "ru")
    assert library.expand("#WAIT Завтра позвоним.", "uz_Cyrl") == (
        f"{library.text('wait', 'uz_Cyrl')}\n\nЗавтра позвоним."
    )
    assert library.expand("#nosuchcode", "ru") is None
    assert library.expand("wait", "ru") is None  # no marker: the operator's own words


def test_a_code_missing_in_one_locale_is_refused(tmp_path: Path) -> None:
    for locale, body in (("uz_Latn", "[a1]\ntext='x'\n[b2]\ntext='y'\n"),
                         ("uz_Cyrl", "[a1]\ntext='х'\n"), ("ru", "[a1]\ntext='х'\n")):  # fmt: skip
        (tmp_path / locale).mkdir()
        (tmp_path / locale / "canned.toml").write_text(body, encoding="utf-8")
    with pytest.raises(CannedError, match="lacks b2"):
        load_canned(tmp_path)
