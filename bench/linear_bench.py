"""Linear time on hostile input: each case at sizes n, 2n, 4n, 8n, with the time ratio per doubling.

Time proportional to input size shows as a ratio of about 2 per doubling (4 quadratic, 8 cubic). The cases
are the shapes that were quadratic, cubic or exponential (issue 12, requirement 3):

- PHI detector: n SSNs in one ConfigMap value, through the KH-SEC-002 check (overlap bookkeeping).
- PHI walk: a ConfigMap whose data shares subtrees (what YAML aliases build): n levels of a list holding
  the level below twice, 2^n leaves; and n levels of nesting (Python's recursion limit).
- PHI and credential regexes over long runs: `a.a.a…@`, `DOB` + whitespace, `x://a.a.a…`.
- Sigma: the wildcard `*a*b*c*` on a long user agent; a `|re` rule `(a+)+b`; a field and a keyword rule on
  an event nested n levels deep.
- Control-plane flags: `A=A=A=…=x` chains and one long quoted token.

`tests/phi/test_linear_phi.py`, `tests/sigma/test_linear_sigma.py` and `tests/controlplane/test_flags_linear.py`
run the same cases at small sizes and assert the growth stays far below quadratic.

Usage: python bench/linear_bench.py [case-name-substring ...]
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Case:
    """One hostile input shape: `make(n)` builds the input of size n, `run(input)` processes it."""

    name: str
    make: Callable[[int], Any]
    run: Callable[[Any], Any]
    bench_n: int
    """The bench's smallest size (the tests use smaller ones)."""


def best_time(run: Callable[[Any], Any], arg: Any, loops: int = 1, repeat: int = 3) -> float:
    """Seconds for `loops` calls of `run(arg)`, the best of `repeat` measurements (noise only adds time).

    The cyclic garbage collector is paused while timing, as `timeit` does: a collection walks every object
    alive in the process (in a test session, whatever earlier tests left), so its cost follows the process,
    not the input, and one landing in the 8n run made a linear case look quadratic in CI."""
    best = float("inf")
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeat):
            t0 = time.perf_counter()
            for _ in range(loops):
                run(arg)
            best = min(best, time.perf_counter() - t0)
    finally:
        if was_enabled:
            gc.enable()
    return best


def calibrate(run: Callable[[Any], Any], arg: Any, floor: float = 0.005) -> int:
    """How many calls of `run(arg)` take at least `floor` seconds, so tiny timings are not all noise."""
    loops = 1
    while loops < 1_000_000:
        if best_time(run, arg, loops, repeat=1) >= floor:
            return loops
        loops *= 4
    return loops


def growth(case: Case, n: int, factor: int = 8, repeat: int = 3) -> tuple[float, float]:
    """(time at n, time at factor*n) with the same number of calls each; linear means a ratio of ~factor."""
    small, big = case.make(n), case.make(n * factor)
    case.run(small)  # warm caches (compiled regexes, imports) before timing
    loops = calibrate(case.run, small)
    return best_time(case.run, small, loops, repeat), best_time(case.run, big, loops, repeat)


def check_linear(case: Case, n: int, slack: float = 24.0, attempts: int = 3) -> str | None:
    """None when the time at 8n is under `slack` times the time at n (linear ~8, quadratic ~64), else why.

    A loaded machine only ever adds time, so a measurement over the slack is repeated (up to `attempts`);
    a quadratic implementation fails every attempt, a noisy measurement of a linear one does not.
    """
    why = ""
    for _ in range(attempts):
        small, big = growth(case, n)
        if big / small < slack:
            return None
        why = f"{case.name}: {small * 1e3:.3f} ms at n={n}, {big * 1e3:.3f} ms at 8n (ratio {big / small:.1f})"
    return why


# --- PHI ---------------------------------------------------------------------------------------------------


def ssns(n: int) -> str:
    """n valid SSNs, one per line (areas 100-599: never 000, 666 or 9xx)."""
    return "\n".join(f"{100 + i % 500:03d}-{10 + i % 90:02d}-{1000 + i % 9000:04d}" for i in range(n))


def configmap_inventory(data: dict[str, Any]) -> Any:
    from kubehipaa.config import Config
    from kubehipaa.inventory import Inventory
    from kubehipaa.model import K8sObject

    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "patients", "namespace": "clinical"},
           "data": data}
    return Inventory([K8sObject(doc, "bench.yaml", 1)], Config())


def run_phi_check(inv: Any) -> list[Any]:
    from kubehipaa.checks.secrets import phi_in_configmap

    hits = list(phi_in_configmap(inv))
    assert hits, "the PHI must be found"
    return hits


def shared_levels(n: int) -> dict[str, Any]:
    """n levels, each a list holding the level below twice: n distinct lists, 2^n paths to the SSN."""
    node: Any = ["123-45-6789"]
    for _ in range(n):
        node = [node, node]
    return {"rows": node}


def nested(n: int) -> dict[str, Any]:
    """An SSN n mappings deep."""
    node: Any = {"ssn": "123-45-6789"}
    for _ in range(n):
        node = {"next": node}
    return {"deep": node}


def run_scan_text(text: str) -> Any:
    from kubehipaa.engines.phi import scan_text

    return scan_text(text)


def run_url_credentials(text: str) -> Any:
    from kubehipaa.checks.secrets import _url_credentials

    return _url_credentials(text)


# --- Sigma -------------------------------------------------------------------------------------------------

_RULES: dict[str, Any] = {}


def sigma_rules(detection: str) -> Any:
    from kubehipaa.engines.auditlog import SigmaRuleSet

    if detection not in _RULES:
        _RULES[detection] = SigmaRuleSet.from_yaml(
            "title: linear\nlogsource: {product: kubernetes, service: audit}\n"
            f"detection:\n{detection}\n  condition: sel\n")
    return _RULES[detection]


def run_wildcard(event: dict[str, Any]) -> Any:
    return sigma_rules("  sel:\n    userAgent: '*a*b*c*'").match(event)


def run_regex(event: dict[str, Any]) -> Any:
    return sigma_rules("  sel:\n    userAgent|re: '(a+)+b'").match(event)


def deep_event(n: int) -> dict[str, Any]:
    """`objectRef` n lists deep around the resource: fan-out and keyword search must not recurse."""
    node: Any = {"resource": "secrets"}
    for _ in range(n):
        node = [node]
    return {"verb": "get", "objectRef": node}


def run_deep_event(event: dict[str, Any]) -> Any:
    field = sigma_rules("  sel:\n    objectRef.resource: secrets").match(event)
    keyword = sigma_rules("  sel:\n    - 'secrets'").match(event)
    assert field and keyword, "both rules must match the deep value"
    return field, keyword


# --- control-plane flags -----------------------------------------------------------------------------------


def run_tokens(text: str) -> Any:
    from kubehipaa.engines.controlplane import tokens_from_text

    return tokens_from_text(text)


CASES: list[Case] = [
    Case("phi: n SSNs in one ConfigMap value (KH-SEC-002)", lambda n: configmap_inventory({"rows.csv": ssns(n)}),
         run_phi_check, 5_000),
    Case("phi: ConfigMap data sharing subtrees, n levels (2^n paths)",
         lambda n: configmap_inventory(shared_levels(n)), run_phi_check, 500),
    Case("phi: SSN n mappings deep", lambda n: configmap_inventory(nested(n)), run_phi_check, 5_000),
    Case("phi regex: e-mail local-part run a.a.a…@", lambda n: "1234 " + "a." * n + "@", run_scan_text, 5_000),
    Case("phi regex: DOB label + n blanks", lambda n: "1234 dob" + " " * n, run_scan_text, 5_000),
    Case("credential regex: scheme run x://a.a.a…", lambda n: "x://" + "a." * n, run_url_credentials, 5_000),
    Case("sigma: '*a*b*c*' on an n-char user agent", lambda n: {"userAgent": "a" * (n // 2) + "b" * (n // 2)},
         run_wildcard, 3_000),
    Case("sigma: |re '(a+)+b' on n a's and a '!'", lambda n: {"userAgent": "a" * n + "!"}, run_regex, 3_000),
    Case("sigma: field and keyword rule, event n levels deep", deep_event, run_deep_event, 2_000),
    Case("flags: A=A=…=x chain of n", lambda n: "A=" * n + "x", run_tokens, 2_000),
    Case("flags: one quoted token of n chars", lambda n: '--x="' + "a" * n + '"', run_tokens, 50_000),
]


def main(argv: list[str]) -> None:
    wanted = [a.lower() for a in argv]
    cases = [c for c in CASES if not wanted or any(w in c.name.lower() for w in wanted)]
    print(f"{'case':58} {'n':>8} {'time':>10}  ratio per doubling")
    for case in cases:
        inputs = [case.make(case.bench_n * k) for k in (1, 2, 4, 8)]
        case.run(inputs[0])
        loops = calibrate(case.run, inputs[0], floor=0.02)
        times = [best_time(case.run, x, loops) / loops for x in inputs]
        for k, (mult, t) in enumerate(zip((1, 2, 4, 8), times, strict=True)):
            ratio = f"{t / times[k - 1]:.2f}" if k else "-"
            print(f"{case.name if k == 0 else '':58} {case.bench_n * mult:>8,} {t * 1e3:>8.3f}ms  {ratio}")
        print(f"{'':58} {'8n / n':>8} {times[3] / times[0]:>10.2f}  (linear ~8, quadratic ~64)")


if __name__ == "__main__":
    main(sys.argv[1:])
