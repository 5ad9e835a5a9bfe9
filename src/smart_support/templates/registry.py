"""The templates that ship with the package: each a folder of `smart_support/templates/` with a
`template.yaml` (see docs/templates.md), found by listing the package's folders."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from smart_support.errors import ConfigError

#: The file that makes a folder of the package a template.
TEMPLATE_FILE = "template.yaml"
_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
_APP = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class TemplateError(ConfigError):
    """A template that does not exist, or whose template.yaml or API is broken."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiSpec(_Strict):
    """The template's demo API: an ASGI app its project's agents call."""

    app: str
    """`python.module:attr`: a FastAPI (or any ASGI) app, or with `factory: true` a function
    that returns one when called without arguments (fresh data on every start)."""

    factory: bool = False
    """`app` is a function that builds the app (uvicorn's `--factory`)."""

    port: int = Field(ge=1, le=65535)
    """The loopback port the project's files expect the API on."""

    @field_validator("app")
    @classmethod
    def _reference(cls, value: str) -> str:
        if not _APP.fullmatch(value):
            raise ValueError(f"{value!r} is not `python.module:attr`")
        return value


class Template(_Strict):
    """One template, as its template.yaml describes it."""

    name: str
    """What `smart-support init --template NAME` takes: lowercase letters, digits and `-`."""

    title: str = Field(min_length=1)
    """A few words for `init --list`."""

    description: str = Field(min_length=1)
    """One or two sentences: the business and what its agents do."""

    api: ApiSpec
    """The demo API that `smart-support api NAME` starts."""

    eval: str | None = None
    """The eval set's file in the template folder (`eval.yaml`), if it has one."""

    directory: Path = Field(exclude=True)
    """The template's folder in the installed package."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError(f"{value!r}: use lowercase letters, digits and '-'")
        return value


def templates_root() -> Path:
    """The folder of the installed package that holds the templates."""
    return Path(str(resources.files("smart_support.templates")))


def read_template(directory: Path) -> Template:
    """The template of `directory` (its template.yaml).

    Raises:
        TemplateError: template.yaml is missing, not YAML, or has a wrong field.
    """
    path = directory / TEMPLATE_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TemplateError(f"cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise TemplateError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise TemplateError(f"{path}: expected a mapping of name, title, description, api")
    try:
        template = Template.model_validate({**data, "directory": directory})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise TemplateError(first["msg"], file=str(path), field=where) from None
    if template.eval is not None and not (directory / template.eval).is_file():
        raise TemplateError(f"the eval set {template.eval!r} is missing", file=str(path))
    return template


def list_templates() -> list[Template]:
    """Every template of the package, by name."""
    found = [
        read_template(folder)
        for folder in sorted(templates_root().iterdir())
        if (folder / TEMPLATE_FILE).is_file()
    ]
    return sorted(found, key=lambda t: t.name)


def get_template(name: str) -> Template:
    """The template called `name`.

    Raises:
        TemplateError: No template has that name (the message lists the ones there are).
    """
    templates = list_templates()
    for template in templates:
        if template.name == name:
            return template
    known = ", ".join(t.name for t in templates) or "none"
    raise TemplateError(f"there is no template {name!r} (there are: {known})")
