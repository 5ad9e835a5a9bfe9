"""The `smart-support` command. Each subcommand imports its module lazily so start-up stays fast."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from smart_support.errors import ConfigError
from smart_support.escalation.cli import webhooks
from smart_support.evals.cli import eval_command
from smart_support.settings import Settings, load_settings
from smart_support.templates.cli import api_command, init_command


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


@click.group()
@click.version_option(package_name="smart-support")
def main() -> None:
    """Smart Support: AI customer support that acts, safely."""


@main.command()
@click.argument("url")
def fetch(url: str) -> None:
    """Fetch URL through the egress guard and print the body."""
    from smart_support.egress import cli_fetch

    sys.exit(cli_fetch(url, _settings()))


class _ImportGroup(click.Group):
    """`import SOURCE ...` imports a spec; `import review NAME` and `import accept NAME` work on
    the review file an import with `--name` wrote."""

    #: The subcommand that runs when the first argument names none (a spec's source).
    default_command = "spec"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


@main.group("import", cls=_ImportGroup)
def import_group() -> None:
    """Import an OpenAPI or Swagger spec: `import SOURCE` (a file, - for stdin, or a URL) shows
    the proposed agents and tools; with --name it also writes NAME.import.yaml to edit, then
    `import review NAME` and `import accept NAME --out FILE`."""


@import_group.command("spec", hidden=True)
@click.argument("source")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--server", metavar="URL", help="Call this server URL instead of the spec's servers.")
@click.option("--name", metavar="NAME", help="Name the import; writes NAME.import.yaml to review.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write agents.yaml.")
@click.option("--accept", is_flag=True, help="Write --out without asking.")
def import_command(
    source: str,
    as_json: bool,
    server: str | None,
    name: str | None,
    out: Path | None,
    accept: bool,
) -> None:
    """Import an OpenAPI or Swagger spec (file, - for stdin, or URL) and show its proposal.

    With --out FILE, write a complete agents.yaml for it: `AGENTS_FILE=FILE smart-support chat`.
    """
    from smart_support.openapi.report import cli_import

    settings = _settings()
    sys.exit(
        cli_import(
            source, settings, as_json=as_json, server=server, name=name, accept=accept, out=out
        )
    )


@import_group.command("review")
@click.argument("name")
def import_review(name: str) -> None:
    """Check the edited NAME.import.yaml against the spec and show what you changed."""
    from smart_support.openapi.report import cli_review

    sys.exit(cli_review(name, _settings()))


@import_group.command("accept")
@click.argument("name")
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="agents.yaml."
)
def import_accept(name: str, out: Path) -> None:
    """Write the agents of the reviewed NAME.import.yaml as a complete agents.yaml to --out."""
    from smart_support.openapi.report import cli_accept

    sys.exit(cli_accept(name, _settings(), out))


@main.group()
def agents() -> None:
    """Work with agents.yaml."""


@agents.command("validate")
@click.argument("file", required=False, type=click.Path(path_type=Path))
def agents_validate(file: Path | None) -> None:
    """Validate FILE (default: AGENTS_FILE or the demo agents); exit non-zero on errors."""
    from smart_support.registry import validate_command

    sys.exit(validate_command(file, _settings()))


@main.command()
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=8001, type=int)
def shop(host: str, port: int) -> None:
    """Run the demo shop API."""
    from smart_support.demo.shop import serve

    serve(host=host, port=port)


@main.command()
@click.option(
    "--as",
    "as_email",
    metavar="EMAIL",
    help="Chat as this demo customer (e.g. maya.chen@example.com); anonymous without it.",
)
def chat(as_email: str | None) -> None:
    """Chat with the agents in the terminal (reads one message per line when piped)."""
    from smart_support.chat import run_chat

    sys.exit(run_chat(_settings(), as_email))


def _address(host: str | None, port: int | None) -> Settings:
    """The settings, with --host / --port in place of HOST / PORT when given."""
    settings = _settings()
    given = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    return settings.model_copy(update=given) if given else settings


_host_option = click.option("--host", help="Address to listen on (default: HOST, 127.0.0.1).")
_port_option = click.option(
    "--port", type=click.IntRange(1, 65535), help="Port to listen on (default: PORT, 8000)."
)


@main.command()
@_host_option
@_port_option
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    help="Server processes on one port (default: WORKERS, 1; above 1 needs PostgreSQL).",
)
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Run the chat server and web UI."""
    from smart_support.server import serve as run_server

    settings = _address(host, port)
    try:
        run_server(settings, workers=workers or settings.workers)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


@main.command()
@_host_option
@_port_option
@click.option(
    "--shop-port",
    type=click.IntRange(1, 65535),
    help="Port of the demo shop API (default: SHOP_URL's, 8001).",
)
@click.option(
    "--site-port",
    type=click.IntRange(1, 65535),
    default=8002,
    show_default=True,
    help="Port of the example shop site that embeds the chat.",
)
@click.option("--no-site", is_flag=True, help="Do not start the example shop site.")
def demo(
    host: str | None, port: int | None, shop_port: int | None, site_port: int, no_site: bool
) -> None:
    """Start the demo shop, the chat server and an example site embedding it (offline model,
    SQLite)."""
    from smart_support.demo.launcher import run_demo

    settings = _address(host, port)
    if shop_port is not None:
        settings = settings.model_copy(update={"shop_url": f"http://127.0.0.1:{shop_port}"})
    sys.exit(run_demo(settings, site_port=None if no_site else site_port))


@main.command()
@click.option("--dry-run", is_flag=True, help="Count what is due; delete nothing.")
def retention(dry_run: bool) -> None:
    """Delete the conversations closed more than RETENTION_DAYS ago, with their events,
    approvals, usage and checkpoints, from DATABASE_URL once (the server also does it as it
    runs), and print how many rows went."""
    from smart_support.runtime.retention import cli_retention

    sys.exit(cli_retention(_settings(), dry_run=dry_run))


@main.group()
def mcp() -> None:
    """Serve Smart Support's tools to MCP clients."""


@mcp.command("serve")
@click.argument("target", metavar="IMPORT")
@click.option(
    "--transport",
    type=click.Choice(["stdio", "http"]),
    default="stdio",
    show_default=True,
    help="stdio (the client starts this command) or streamable HTTP on --host:--port/mcp.",
)
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address for --transport http."
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8765,
    show_default=True,
    help="Port for --transport http.",
)
@click.option("--server", metavar="URL", help="Call this server URL instead of the spec's servers.")
@click.option(
    "--writes",
    type=click.Choice(["confirm", "allow", "none"]),
    default="confirm",
    show_default=True,
    help="confirm: ask the client's user (MCP elicitation) before each write; allow: run writes "
    "without asking; none: do not expose write tools.",
)
def mcp_serve(
    target: str, transport: str, host: str, port: int, server: str | None, writes: str
) -> None:
    """Serve IMPORT (a name under openapi: in agents.yaml, or a spec file or URL) as an MCP
    server: one tool per operation, called through the egress guard."""
    from smart_support.openapi.serve import cli_mcp_serve

    sys.exit(cli_mcp_serve(target, _settings(), transport, host, port, writes, server=server))


main.add_command(init_command)
main.add_command(api_command)

main.add_command(webhooks)
main.add_command(eval_command)

if __name__ == "__main__":  # pragma: no cover
    main()
