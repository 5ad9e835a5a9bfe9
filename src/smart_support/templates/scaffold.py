"""`smart-support init --template NAME DIR`: a new project from a template's files.

Every file of the template's folder is copied except template.yaml and its Python code (the demo
API runs from the package: `smart-support api NAME`); `env.example` becomes `.env.example`, and
`README.md` is rendered with the project's folder, the API's address and port. With another
`port`, every `127.0.0.1:<template port>` in the copied files names the new port instead.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from smart_support.templates.registry import TEMPLATE_FILE, Template, TemplateError, get_template

#: Files of a template folder that are not part of a project.
_SKIPPED_SUFFIXES = (".py", ".pyc")
_SKIPPED_NAMES = {TEMPLATE_FILE, "__pycache__"}
_RENAMED = {"env.example": ".env.example"}
_TEXT_SUFFIXES = {".md", ".yaml", ".yml", ".json", ".example", ".txt"}


@dataclass(frozen=True)
class Project:
    """What `init` wrote."""

    template: Template
    directory: Path
    files: list[Path]
    port: int

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _template_files(root: Path) -> list[Path]:
    files = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part in _SKIPPED_NAMES for part in relative.parts):
            continue
        if path.is_file() and path.suffix not in _SKIPPED_SUFFIXES:
            files.append(relative)
    return files


def _render(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def init(name: str, directory: Path, *, force: bool = False, port: int | None = None) -> Project:
    """Write a new project made from the template `name` into `directory`.

    Args:
        name: The template's name (`smart-support init --list`).
        directory: The project's folder; created when missing, and refused when it holds
            anything, unless `force` (then the template's files replace those of the same name).
        force: Write into a folder that is not empty.
        port: The demo API's port in the project's files; the template's own by default.

    Raises:
        TemplateError: No such template, the folder is not empty (without `force`), or it is a
            file.
    """
    template = get_template(name)
    port = port or template.api.port
    if directory.exists() and not directory.is_dir():
        raise TemplateError(f"{directory} is a file, not a folder")
    if directory.is_dir() and any(directory.iterdir()) and not force:
        raise TemplateError(
            f"{directory} is not empty: choose a new folder, or pass --force to write the "
            "template's files into it"
        )
    old, new = f"127.0.0.1:{template.api.port}", f"127.0.0.1:{port}"
    values = {
        "directory": str(directory),
        "name": template.name,
        "title": template.title,
        "port": str(port),
        "api_url": f"http://{new}",
    }
    written: list[Path] = []
    for relative in _template_files(template.directory):
        source = template.directory / relative
        target = directory / relative.with_name(_RENAMED.get(relative.name, relative.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.suffix in _TEXT_SUFFIXES or source.name in _RENAMED:
            text = source.read_text(encoding="utf-8").replace(old, new)
            if relative == Path("README.md"):
                text = _render(text, values)
            target.write_text(text, encoding="utf-8")
        else:
            shutil.copyfile(source, target)
        written.append(target)
    return Project(template=template, directory=directory, files=written, port=port)
