from __future__ import annotations

import copy
from importlib import resources

import pytest
import yaml

from kubehipaa.checks.registry import all_checks
from kubehipaa.errors import KubehipaaError
from kubehipaa.frameworks import load_hipaa
from kubehipaa.frameworks.hipaa import parse_catalog


def _raw() -> dict:
    text = resources.files("kubehipaa.frameworks").joinpath("hipaa.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def test_catalog_loads_with_the_technical_safeguards() -> None:
    cat = load_hipaa()
    assert cat.get("164.312(b)").name == "Audit controls"
    assert cat.requirement("164.312(b)") == "required"
    assert cat.requirement("164.312(a)(2)(iv)") == "addressable"
    assert cat.requirement("164.312(a)(2)(i)") == "required"
    assert cat.standard_of("164.312(e)(2)(ii)").title == "164.312(e)(1) Transmission security"
    assert cat.standard_of("164.308(a)(4)(ii)(B)").id == "164.308(a)(4)(i)"
    # the short citation of a 164.308 standard is an alias of its exact (i) paragraph
    assert "164.308(a)(7)" in cat and cat.get("164.308(a)(7)").id == "164.308(a)(7)(i)"
    assert cat.standard_of("164.308(a)(7)").name == "Contingency plan"
    assert set(cat.children["164.312(a)(1)"]) == {
        "164.312(a)(2)(i)", "164.312(a)(2)(ii)", "164.312(a)(2)(iii)", "164.312(a)(2)(iv)"
    }


def test_every_paragraph_cited_by_a_registered_check_is_in_the_catalog() -> None:
    cat = load_hipaa()
    checks = all_checks()
    if not checks:
        pytest.skip("no checks registered yet")
    missing = sorted({(c.meta.id, pid) for c in checks for pid in c.meta.hipaa if pid not in cat})
    assert not missing, f"checks cite paragraphs missing from frameworks/hipaa.yaml: {missing}"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["paragraphs"].append(dict(d["paragraphs"][0])), "duplicate paragraph"),
        (lambda d: d["paragraphs"][1].update(standard="164.312(b)"), "does not belong under"),
        (lambda d: d["paragraphs"][1].update(standard="164.399(a)(1)"), "is not a standard"),
        (lambda d: d["paragraphs"][1].pop("status"), "required or addressable"),
        (lambda d: d["paragraphs"][0].update(id="164.312(z)"), "paragraphs.0.id"),
        (lambda d: d["paragraphs"][0].update(colour="blue"), "Extra inputs"),
    ],
)
def test_invalid_catalogs_are_refused(mutate, message: str) -> None:
    data = copy.deepcopy(_raw())
    mutate(data)
    with pytest.raises(KubehipaaError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_catalog(data)


def test_the_catalog_loader_reads_the_packaged_file_as_the_pure_python_loader_does() -> None:
    """load_hipaa parses with libyaml for speed; it must give exactly what yaml.safe_load gives."""
    from kubehipaa.frameworks.hipaa import CATALOG_LOADER

    assert CATALOG_LOADER is yaml.CSafeLoader  # the speed-up is in effect where libyaml is available
    text = resources.files("kubehipaa.frameworks").joinpath("hipaa.yaml").read_text(encoding="utf-8")
    assert yaml.load(text, Loader=CATALOG_LOADER) == yaml.safe_load(text)
