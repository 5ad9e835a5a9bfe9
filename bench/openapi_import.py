"""OpenAPI import: time, peak memory and completeness per corpus spec, ours vs FastMCP.

    .venv/bin/python bench/openapi_import.py [--repeat 3] [SPEC ...]

Every measurement runs in a fresh child process (this script with `--child`), so peak RSS is that
child's own `ru_maxrss`. "ours" times `import_spec(file)`: read, parse, validate and make the
tools, no LLM (absolute remote `$ref`s are not followed: no network). "FastMCP" times parsing the
same file (json / yaml.CSafeLoader) plus `FastMCP.from_openapi(...)` and listing its tools, so
both columns go from a file to a list of tools; its `from_openapi` alone is shown too. Each child
first imports its libraries and converts a tiny inline spec of each version (2.0, 3.0, 3.1: lazy
imports and first-call costs); the "baseline" children do only that. Times are medians over
`--repeat` runs, RSS the largest. "complete": tools whose input has every parameter and
top-level body property of the spec's operation (`smart_support.openapi.completeness`), over the
operations not skipped with a reason (ours) or over all operations (FastMCP never skips one).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "openapi"
LARGEST = "square-2.0.json"
NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
TINY: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "warm-up", "version": "1"},
    "servers": [{"url": "http://127.0.0.1:9"}],
    "paths": {
        "/a/{id}": {
            "post": {
                "operationId": "a",
                "responses": {"200": {"description": "ok"}},
                "parameters": [{"name": "id", "in": "path", "required": True}],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {"type": "object", "properties": {"x": {"type": "string"}}}
                        }
                    }
                },
            }
        }
    },
}


TINY_2: dict[str, Any] = {
    "swagger": "2.0",
    "info": {"title": "warm-up", "version": "1"},
    "host": "127.0.0.1:9",
    "paths": {"/b": {"get": {"operationId": "b", "responses": {"200": {"description": "ok"}}}}},
}
#: One tiny spec per version: each version's models and validators load before the timing.
WARM_UPS = (TINY, {**TINY, "openapi": "3.1.0"}, TINY_2)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _parse(path: Path) -> Any:
    import yaml

    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.load(text, Loader=yaml.CSafeLoader)


def _names(names: list[str]) -> dict[str, Any]:
    return {
        "names_invalid": sum(not NAME.match(n) for n in names),
        "names_duplicate": len(names) - len(set(names)),
    }


def _child_ours(spec_name: str | None) -> dict[str, Any]:
    import asyncio
    import tempfile

    from smart_support.openapi import import_spec
    from smart_support.openapi.completeness import expected_inputs, missing_inputs
    from smart_support.settings import Settings

    settings = Settings()
    for warm_up in WARM_UPS:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as tiny:
            json.dump(warm_up, tiny)
        asyncio.run(import_spec(tiny.name, settings, remote_refs=False))
        Path(tiny.name).unlink()
    if spec_name is None:
        return {"peak_mb": _peak_mb()}
    results: list[Any] = []

    async def run() -> None:  # returns None: asyncio.run may repr its result (Python 3.11)
        results.append(await import_spec(str(CORPUS / spec_name), settings, remote_refs=False))

    start = time.perf_counter()
    asyncio.run(run())
    elapsed = time.perf_counter() - start
    result = results[0]
    peak = _peak_mb()
    spec = _parse(CORPUS / spec_name)
    missing = missing_inputs(result, spec)
    return {
        "peak_mb": peak,
        "seconds": elapsed,
        "operations": len(expected_inputs(spec)),
        "tools": len(result.operations),
        "skipped": len(result.skipped),
        "warnings": len(result.warnings),
        "complete": sum(not m for m in missing.values()),
        **_names([op.name for op in result.operations]),
    }


def _fastmcp_has(schema: dict[str, Any], params: set[str], where: str, name: str) -> bool:
    """Whether FastMCP's input schema takes (where, name): its `name__where` suffix for a
    colliding parameter, body properties at the top level or inside one whole-body argument."""
    props = schema.get("properties") or {}
    if where != "body":
        return name in props or f"{name}__{where}" in props
    whole = [s for n, s in props.items() if n not in params]
    if name == "":
        return bool(whole)
    return name in props or any(_schema_has(schema, c, name, 0) for c in whole)


def _schema_has(root: dict[str, Any], schema: Any, name: str, depth: int) -> bool:
    """Whether a whole-body schema offers property NAME (through $defs and its variants)."""
    if not isinstance(schema, dict) or depth > 8:
        return False
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        schema = (root.get("$defs") or {}).get(ref.split("/")[-1], {})
    if name in (schema.get("properties") or {}):
        return True
    variants = [*(schema.get("allOf") or []), *(schema.get("anyOf") or [])]
    variants += schema.get("oneOf") or []
    return any(_schema_has(root, v, name, depth + 1) for v in variants)


def _fastmcp_complete(spec: Any, tools: list[Any]) -> int:
    """Tools whose input has every expected input (FastMCP's own naming mapped back)."""
    from smart_support.openapi.completeness import expected_inputs

    expected = expected_inputs(spec)
    complete = 0
    for tool in tools:
        route = getattr(tool, "_route", None)
        if route is None:
            continue
        want = expected.get((route.method.upper(), route.path), set())
        params = {p.name for p in route.parameters}
        schema = tool.parameters or {}
        complete += all(_fastmcp_has(schema, params, where, name) for where, name in want)
    return complete


def _why(exc: Exception) -> str:
    """A short reason: FastMCP wraps pydantic's validation errors of its OpenAPI models."""
    cause = exc.__cause__
    errors = getattr(cause, "errors", None)
    if callable(errors):
        found = errors()
        where = ".".join(str(p) for p in found[0]["loc"]) if found else "?"
        return f"{len(found)} schema errors, first at {where}: {found[0]['msg'] if found else ''}"
    return f"{type(exc).__name__}: {str(exc)[:100]}"


def _child_fastmcp(spec_name: str | None) -> dict[str, Any]:
    import asyncio

    import httpx
    from fastmcp import FastMCP

    def convert(spec: Any) -> list[Any]:
        client = httpx.AsyncClient(base_url="http://127.0.0.1:9")  # never called
        server = FastMCP.from_openapi(openapi_spec=spec, client=client)
        tools: list[Any] = []

        async def listed() -> None:  # returns None, as for ours
            tools.extend(await server.list_tools())

        asyncio.run(listed())
        return tools

    for warm_up in WARM_UPS:
        with contextlib.suppress(Exception):  # FastMCP reads Swagger 2.0 as 3.0 models
            convert(json.loads(json.dumps(warm_up)))
    if spec_name is None:
        return {"peak_mb": _peak_mb()}
    start = time.perf_counter()
    spec = _parse(CORPUS / spec_name)
    parsed = time.perf_counter()
    try:
        tools = convert(spec)
    except Exception as exc:  # a spec FastMCP cannot convert is a result, not a crash
        return {
            "peak_mb": _peak_mb(),
            "error": _why(exc),
            "parse_seconds": parsed - start,
        }
    end = time.perf_counter()
    peak = _peak_mb()
    fresh = _parse(CORPUS / spec_name)  # from_openapi may have changed its copy
    return {
        "peak_mb": peak,
        "seconds": end - start,
        "convert_seconds": end - parsed,
        "tools": len(tools),
        "complete": _fastmcp_complete(fresh, tools),
        **_names([t.name for t in tools]),
    }


def _run_child(kind: str, spec: str | None) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", kind]
    if spec is not None:
        command.append(spec)
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)
    if done.returncode != 0 or not done.stdout.strip():
        tail = done.stderr.strip().splitlines()[-1:]
        return {"error": f"child failed (exit {done.returncode}): {tail}"}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _measure(kind: str, spec: str | None, repeat: int) -> dict[str, Any]:
    runs = [_run_child(kind, spec) for _ in range(repeat)]
    good = [r for r in runs if "seconds" in r]
    first = dict(good[0] if good else runs[0])
    first["failed_runs"] = [r["error"] for r in runs if "seconds" not in r and "error" in r]
    if good:
        runs = good
    for key in ("seconds", "convert_seconds", "parse_seconds"):
        values = [r[key] for r in runs if key in r]
        if values:
            first[key] = statistics.median(values)
    peaks = [r["peak_mb"] for r in runs if "peak_mb" in r]
    if peaks:
        first["peak_mb"] = max(peaks)
    return first


def _fmt_s(value: float) -> str:
    return f"{value:.2f} s" if value >= 0.1 else f"{value * 1000:.0f} ms"


def _main(args: argparse.Namespace) -> None:
    specs = args.specs or sorted(p.name for p in CORPUS.iterdir() if p.suffix in (".json", ".yaml"))
    base_ours = _measure("ours", None, args.repeat)
    base_fast = _measure("fastmcp", None, args.repeat)
    rows: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for spec in specs:
        ours = _measure("ours", spec, args.repeat)
        fast = _measure("fastmcp", spec, args.repeat)
        rows.append((spec, ours, fast))
        print(f"measured {spec}", file=sys.stderr)

    print(
        f"Baseline (interpreter, imports, the warm-ups): ours "
        f"{base_ours['peak_mb']:.0f} MB, FastMCP {base_fast['peak_mb']:.0f} MB peak RSS.\n"
    )
    print(
        "| spec | ops | ours time | ours peak RSS | tools | skipped | complete | names bad "
        "| FastMCP time (parse + convert) | FastMCP convert | FastMCP peak RSS | tools "
        "| complete | names bad | time ours/FastMCP |"
    )
    print("|---" * 15 + "|")
    for spec, ours, fast in rows:
        if "error" in ours and "seconds" not in ours:
            ours_cells = f"{ours['error']} | | | | | |"
            ops = "?"
        else:
            ops = str(ours["operations"])
            callable_ops = ours["operations"] - ours["skipped"]
            ours_cells = (
                f"{_fmt_s(ours['seconds'])} | {ours['peak_mb']:.0f} MB | {ours['tools']} | "
                f"{ours['skipped']} | {ours['complete']}/{callable_ops} | "
                f"{ours['names_invalid'] + ours['names_duplicate']}"
            )
        if "seconds" in fast:
            fast_cells = (
                f"{_fmt_s(fast['seconds'])} | {_fmt_s(fast['convert_seconds'])} | "
                f"{fast['peak_mb']:.0f} MB | {fast['tools']} | {fast['complete']}/{ops} | "
                f"{fast['names_invalid'] + fast['names_duplicate']}"
            )
            ratio = f"{ours['seconds'] / fast['seconds']:.2f}" if "seconds" in ours else "-"
        else:
            rss = f"{fast['peak_mb']:.0f} MB" if "peak_mb" in fast else ""
            fast_cells = f"fails: {fast.get('error', '?')} | | {rss} | | |"
            ratio = "-"
        print(f"| {spec} | {ops} | {ours_cells} | {fast_cells} | {ratio} |")

    for spec, ours, fast in rows:
        for who, measured in (("ours", ours), ("FastMCP", fast)):
            for error in measured.get("failed_runs", []):
                if "seconds" in measured:  # a run failed where others did not: say so
                    print(f"\nnote: one {who} run of {spec} failed: {error}")
    ours_ok = [o for _, o, _ in rows if "seconds" in o]
    fast_ok = [f for _, _, f in rows if "seconds" in f]
    complete = all(o["complete"] == o["operations"] - o["skipped"] for o in ours_ok)
    names = all(o["names_invalid"] + o["names_duplicate"] == 0 for o in ours_ok)
    both = [(s, o, f) for s, o, f in rows if "seconds" in o and "seconds" in f]
    slower = [s for s, o, f in both if o["seconds"] >= f["seconds"]]
    ratios = [o["seconds"] / f["seconds"] for _, o, f in both]
    largest = next((o for s, o, _ in rows if s == LARGEST), None)
    print()
    print(f"Specs imported: ours {len(ours_ok)}/{len(rows)}, FastMCP {len(fast_ok)}/{len(rows)}.")
    if ratios:
        print(
            f"Time ours/FastMCP over the {len(both)} specs both import: median "
            f"{statistics.median(ratios):.2f}, worst {max(ratios):.2f}."
        )
    print("Targets:")
    every = len(ours_ok) == len(rows)
    print(f"- every spec imports: {'met' if every else 'NOT met'} ({len(ours_ok)}/{len(rows)})")
    print(
        f"- every operation complete or skipped with a reason: {'met' if complete else 'NOT met'}"
    )
    print(f"- no invalid or duplicate names: {'met' if names else 'NOT met'}")
    if largest is not None and "seconds" in largest:
        ok = largest["seconds"] <= 3 and largest["peak_mb"] <= 250
        print(
            f"- {LARGEST} in <= 3 s and <= 250 MB: {'met' if ok else 'NOT met'} "
            f"({_fmt_s(largest['seconds'])}, {largest['peak_mb']:.0f} MB)"
        )
    print(
        f"- faster than FastMCP on every spec both import: {'met' if not slower else 'NOT met'}"
        + (f" (slower: {', '.join(slower)})" if slower else "")
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("specs", nargs="*", help="corpus file names (default: all)")
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per measurement")
    parser.add_argument("--child", choices=("ours", "fastmcp"), help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    if parsed.child:
        spec_arg = parsed.specs[0] if parsed.specs else None
        run = _child_ours if parsed.child == "ours" else _child_fastmcp
        print(json.dumps(run(spec_arg)))
    else:
        _main(parsed)
