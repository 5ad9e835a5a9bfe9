"""`smart-support init` (a project from a template) and `smart-support api NAME` (its demo API)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import click

from smart_support.templates.registry import TemplateError, get_template, list_templates


@click.command("init")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--template", "name", metavar="NAME", help="The template (see --list).")
@click.option("--list", "show", is_flag=True, help="List the templates and exit.")
@click.option("--force", is_flag=True, help="Write into DIRECTORY even if it is not empty.")
@click.option("--port", type=click.IntRange(1, 65535), help="The demo API's port in the files.")
def init_command(
    directory: Path | None, name: str | None, show: bool, force: bool, port: int | None
) -> None:
    """Start a project from a template: `init --template NAME DIRECTORY` (`init --list`)."""
    try:
        if show:
            for template in list_templates():
                click.echo(f"{template.name:<14} {template.title}")
                for line in textwrap.wrap(template.description, 84):
                    click.echo(f"{'':<14} {line}")
            return
        if name is None or directory is None:
            raise click.UsageError("give --template NAME and a DIRECTORY (or --list)")
        from smart_support.templates.scaffold import init

        project = init(name, directory, force=force, port=port)
    except TemplateError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(f"wrote {len(project.files)} files to {project.directory}:")
    for path in project.files:
        click.echo(f"  {path.relative_to(project.directory)}")
    click.echo(
        f"next: cd {project.directory} && cp .env.example .env, then "
        f"`smart-support api {project.template.name}` and, in another terminal, "
        "`smart-support chat` (README.md has the details)"
    )


@click.command("api")
@click.argument("name")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), help="Default: the template's port.")
def api_command(name: str, host: str, port: int | None) -> None:
    """Run the demo API of the template NAME (state in memory) until interrupted.

    uvicorn imports the app (`api.app` of its template.yaml) and says so if it cannot."""
    import uvicorn

    try:
        template = get_template(name)
    except TemplateError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    port = port or template.api.port
    click.echo(f"{template.title} API on http://{host}:{port} (spec: /openapi.json)")
    uvicorn.run(
        template.api.app, factory=template.api.factory, host=host, port=port, log_level="info"
    )
