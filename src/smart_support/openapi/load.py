"""Loading a spec: from a file, stdin or a URL (through the egress guard), parsed safely.

A spec is untrusted input. JSON and YAML are parsed with bounds on size, nesting depth, node count
and YAML alias expansions (an "alias bomb" of a few kilobytes can otherwise expand to gigabytes);
YAML only through `yaml.SafeLoader` (no Python objects). External `$ref` documents are fetched here,
before anything else runs, so the rest of the import is synchronous and never touches the network:
relative files only inside the spec's own folder, relative URLs against the spec's URL through the
egress guard, and a `file:` reference from a remote spec is refused.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

import yaml

from smart_support.egress import HTTPError, async_client, policy_from_settings, precheck_url
from smart_support.errors import ConfigError, EgressRefused
from smart_support.settings import Settings

#: Bounds on one document (the spec or a document it references).
MAX_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 200
MAX_NODES = 2_000_000
MAX_ALIASES = 10_000
#: How many external documents one import may pull in.
MAX_EXTERNAL_DOCUMENTS = 32


class SpecError(ConfigError):
    """The spec cannot be imported: its source or its content is at fault, not Smart Support."""

    code = "spec_error"


@dataclass
class Documents:
    """The spec and the external documents its `$ref`s name, keyed by absolute location.

    Attributes:
        root: The location of the spec (`file:///...`, `https://...` or `stdin:`).
        docs: Parsed documents by location (without fragment).
        warnings: What could not be fetched, with the reason.
    """

    root: str
    docs: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    @property
    def spec(self) -> Any:
        return self.docs[self.root]

    @property
    def is_remote(self) -> bool:
        return self.root.startswith(("http://", "https://"))


def parse_document(text: str | bytes, where: str) -> Any:
    """Parse JSON or YAML with bounded size, depth, nodes and aliases.

    Raises:
        SpecError: Too large, too deep, an alias bomb, or not JSON/YAML.
    """
    size = len(text)
    if size > MAX_BYTES:
        raise SpecError(
            f"the document is {size:,} bytes, over the {MAX_BYTES:,} byte limit", file=where
        )
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise SpecError("the document is not UTF-8 text", file=where) from None
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        _check_json_depth(stripped, where)
        try:
            return json.loads(stripped)
        except RecursionError:
            raise SpecError(
                f"the document is nested deeper than {MAX_DEPTH} levels", file=where
            ) from None
        except json.JSONDecodeError as exc:
            not_json = exc
        # YAML flow style (`{openapi: 3.0.0, ...}`) starts like JSON too.
        try:
            return _parse_yaml(text, where)
        except SpecError as exc:
            if "not valid YAML" not in str(exc):  # a limit: an alias bomb, too deep, too many
                raise
            raise SpecError(f"not valid JSON: {not_json}", file=where) from None
    return _parse_yaml(text, where)


#: Strings (removed whole; an unterminated one runs to the end, so the scan stays linear), then
#: everything but brackets: nesting measured without parsing.
_JSON_STRINGS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")


def _check_json_depth(text: str, where: str) -> None:
    """Refuse JSON nested deeper than MAX_DEPTH before the parser recurses into it."""
    depth = 0
    for ch in _NOT_BRACKETS.sub("", _JSON_STRINGS.sub("", text)):
        if ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise SpecError(
                    f"the document is nested deeper than {MAX_DEPTH} levels", file=where
                )
        else:
            depth -= 1


_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    """The safe loader, with the tags of plain scalars remembered: a spec repeats its words
    ("string", "object", "200"...) and the implicit resolver runs its regexes per scalar."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._scalar_tags: dict[tuple[str, tuple[bool, bool]], str] = {}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is not yaml.ScalarNode or self.yaml_path_resolvers:
            return super().resolve(kind, value, implicit)
        key = (value, implicit)
        tag = self._scalar_tags.get(key)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            if len(self._scalar_tags) < 50_000:
                self._scalar_tags[key] = tag
        return tag


def _check_events(text: str, where: str) -> None:
    """Bound nesting depth, node count and alias uses from the parser's events, before composing."""
    depth = nodes = aliases = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise SpecError(
                    f"the document is nested deeper than {MAX_DEPTH} levels", file=where
                )
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
            continue
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise SpecError(
                    f"more than {MAX_ALIASES:,} YAML aliases (an alias bomb?)", file=where
                )
        elif not isinstance(event, yaml.ScalarEvent):
            continue
        nodes += 1
        if nodes > MAX_NODES:
            raise SpecError(f"more than {MAX_NODES:,} YAML nodes", file=where)


_STR = "tag:yaml.org,2002:str"
#: Scalar tags the fast path builds (with SafeConstructor's own functions); others fall back.
_SCALARS = {
    tag: yaml.constructor.SafeConstructor.yaml_constructors[tag]
    for tag in (
        f"tag:yaml.org,2002:{kind}" for kind in ("bool", "int", "float", "null", "timestamp")
    )
}
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
#: The fast path met something only the full loader handles (anchors, tags, complex keys...).
_FULL = object()
_EMPTY = object()


def _build(text: str, where: str) -> Any:
    """Build a plain document straight from the parser's events, checking the bounds as it goes.

    Most specs use no anchors, aliases, explicit tags, merge keys or complex keys: for them one
    pass over the events replaces composing a node graph, walking it and constructing it (the
    same values SafeLoader makes). Anything else returns `_FULL` and takes the full path.
    """
    loader = _Loader(text)
    try:
        stack: list[Any] = []  # containers; a mapping's pending key is pushed after it
        root: Any = _EMPTY
        nodes = documents = depth = 0
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.ScalarEvent):
                if event.anchor is not None or event.tag not in (None, "!"):
                    return _FULL
                tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
                if tag == _STR:
                    value: Any = event.value
                elif tag in _SCALARS:
                    value = _SCALARS[tag](_CONSTRUCTOR, yaml.ScalarNode(tag, event.value))
                else:
                    return _FULL  # a merge key `<<`, `=`...
            elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                if event.anchor is not None or event.tag not in (None, "!"):
                    return _FULL
                if stack and isinstance(stack[-1], dict):
                    return _FULL  # a mapping or sequence as a key
                stack.append({} if isinstance(event, yaml.MappingStartEvent) else [])
                depth += 1
                if depth > MAX_DEPTH:
                    raise SpecError(
                        f"the document is nested deeper than {MAX_DEPTH} levels", file=where
                    )
                nodes += 1
                continue
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                value = stack.pop()
                depth -= 1
            elif isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    return _FULL  # the full loader says "expected a single document"
                continue
            elif isinstance(event, yaml.AliasEvent):
                return _FULL
            else:
                continue
            if isinstance(event, yaml.ScalarEvent):
                nodes += 1
                if nodes > MAX_NODES:
                    raise SpecError(f"more than {MAX_NODES:,} YAML nodes", file=where)
            # Place the finished value: a list item, a mapping's key, or the value of its key.
            if not stack:
                root = value
            elif isinstance(stack[-1], list):
                stack[-1].append(value)
            elif isinstance(stack[-1], dict):
                stack.append(_Key(value))
            else:
                key = stack.pop().value
                stack[-1][key] = value
        return root
    finally:
        loader.dispose()


class _Key:
    """A mapping key waiting for its value (on the builder's stack, above its mapping)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _parse_yaml(text: str, where: str) -> Any:
    """Safe YAML: the fast path, else events checked, then composed and expansion-checked, then
    constructed."""
    try:
        built = _build(text, where)
        if built is _EMPTY:
            raise SpecError("the document is empty", file=where)
        if built is not _FULL:
            return built
        _check_events(text, where)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                raise SpecError("the document is empty", file=where)
            _check_expansion(node, where)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise SpecError(f"not valid YAML: {exc}", file=where) from None
    except RecursionError:
        raise SpecError(
            f"the document is nested deeper than {MAX_DEPTH} levels", file=where
        ) from None


def _check_expansion(root: yaml.Node, where: str) -> None:
    """Count the nodes and the depth of the document once aliases are expanded.

    Shared (aliased) nodes count at each use; a chain of aliases can nest far deeper than the
    text does, so the depth is measured on the expanded graph too.
    """
    seen: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded size, height)
    too_deep = SpecError(f"the document is nested deeper than {MAX_DEPTH} levels", file=where)

    def walk(node: yaml.Node, depth: int) -> tuple[int, int]:
        if depth > MAX_DEPTH:
            raise too_deep
        known = seen.get(id(node))
        if known is not None:
            if depth + known[1] > MAX_DEPTH:
                raise too_deep
            return known
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        total, height = 1, 0
        for child in children:
            if isinstance(child, yaml.ScalarNode):  # most nodes: no call, no memo entry
                if depth + 1 > MAX_DEPTH:
                    raise too_deep
                total += 1
                height = max(height, 1)
                continue
            size, child_height = walk(child, depth + 1)
            total += size
            height = max(height, child_height + 1)
        if total > MAX_NODES:
            raise SpecError(
                f"the document expands to more than {MAX_NODES:,} nodes (an alias bomb?)",
                file=where,
            )
        seen[id(node)] = (total, height)
        return total, height

    walk(root, 0)


async def load(source: str, settings: Settings, *, remote_refs: bool = True) -> Documents:
    """Load the spec SOURCE (a path, `-` for stdin, or an http(s) URL) and its external refs.

    Args:
        source: Where the spec is.
        settings: The egress guard's settings (allowlist, timeout, size limit).
        remote_refs: Follow `$ref`s to absolute URLs (through the egress guard). Relative refs of
            a remote spec are always fetched through the guard.

    Raises:
        SpecError: The source cannot be read or parsed.
        EgressRefused: The egress guard refused the spec's URL or one of its redirects.
    """
    if source == "-":
        root = "stdin:"
        docs = {root: parse_document(sys.stdin.read(), "stdin")}
    elif source.startswith(("http://", "https://")):
        root = urldefrag(source)[0]
        docs = {root: parse_document(await _fetch(root, settings), root)}
    else:
        root, document = _local(source)
        docs = {root: document}
    documents = Documents(root=root, docs=docs)
    await _fetch_external(documents, settings, remote_refs)
    return documents


async def load_parsed(spec: Any, settings: Settings, *, remote_refs: bool = True) -> Documents:
    """A spec given as data (the operator REST API's `document`), and its absolute-URL refs.

    Like stdin, it has no folder and no URL: relative and `file:` references are not followed.
    """
    documents = Documents(root="stdin:", docs={"stdin:": spec})
    await _fetch_external(documents, settings, remote_refs)
    return documents


def _local(source: str) -> tuple[str, Any]:
    path = Path(source).resolve()
    return path.as_uri(), parse_document(_read_file(path, source), source)


def _read_file(path: Path, shown: str) -> bytes:
    try:
        if path.stat().st_size > MAX_BYTES:
            raise SpecError(f"the file is over the {MAX_BYTES:,} byte limit", file=shown)
        return path.read_bytes()
    except OSError as exc:
        raise SpecError(f"cannot read the file: {exc.strerror}", file=shown) from None


async def _fetch(url: str, settings: Settings) -> bytes:
    precheck_url(url, policy_from_settings(settings))
    try:
        async with async_client(settings) as client:
            response = await client.get(
                url, headers={"Accept": "application/json, application/yaml"}
            )
    except HTTPError as exc:
        raise SpecError(f"could not fetch the spec: {type(exc).__name__}", file=url) from None
    if response.is_error:
        raise SpecError(f"the server answered HTTP {response.status_code}", file=url)
    return response.content


def external_location(ref: str, base: str) -> str | None:
    """The document a `$ref` points into (absolute, without fragment), or None for a local ref."""
    if ref.startswith("#"):
        return None
    if base == "stdin:":
        return urldefrag(ref)[0]
    return urldefrag(urljoin(base, ref))[0]


def _refs_in(value: Any, found: set[str]) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and not ref.startswith("#"):
                found.add(ref)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


async def _fetch_external(documents: Documents, settings: Settings, remote_refs: bool) -> None:
    """Fetch every external document the spec reaches (bounded), or warn why not."""
    pending = [documents.root]
    seen = {documents.root}
    root_dir = documents.root.rsplit("/", 1)[0] + "/"
    while pending:
        base = pending.pop()
        refs: set[str] = set()
        _refs_in(documents.docs[base], refs)
        for ref in sorted(refs):
            where = external_location(ref, base)
            if where is None or where in seen:
                continue
            seen.add(where)
            reason = _refusal(where, ref, documents, root_dir, remote_refs)
            if reason is None and len(documents.docs) > MAX_EXTERNAL_DOCUMENTS:
                reason = f"more than {MAX_EXTERNAL_DOCUMENTS} external documents"
            if reason is None:
                try:
                    if where.startswith("file:"):
                        path = _file_path(where)
                        documents.docs[where] = parse_document(_read_file(path, ref), ref)
                    else:
                        documents.docs[where] = parse_document(await _fetch(where, settings), where)
                    pending.append(where)
                    continue
                except EgressRefused as exc:
                    reason = f"refused by the egress guard: {exc.detail}"
                except SpecError as exc:
                    reason = str(exc)
            documents.warnings.append(f"$ref {ref!r} not followed: {reason}")


def _file_path(uri: str) -> Path:
    return Path(unquote(urlsplit(uri).path))


def _refusal(
    where: str, ref: str, documents: Documents, root_dir: str, remote_refs: bool
) -> str | None:
    scheme = urlsplit(where).scheme
    if scheme == "file":
        if documents.is_remote:
            return "a remote spec may not reference local files"
        if documents.root == "stdin:" or not where.startswith(root_dir):
            return "a local reference must stay inside the spec's folder"
        folder = _file_path(root_dir).resolve()
        if not _file_path(where).resolve().is_relative_to(folder):  # a symlink out
            return "a local reference must stay inside the spec's folder"
        return None
    if scheme in ("http", "https"):
        relative = not urlsplit(ref).scheme and not ref.startswith("//")
        if documents.is_remote and relative:
            return None
        return None if remote_refs else "remote references are not followed for this import"
    if documents.root == "stdin:":
        return "a spec given as text has no folder or URL to resolve relative references against"
    return f"unsupported reference scheme {scheme or '(none)'!r}"
