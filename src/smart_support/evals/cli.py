"""`smart-support eval`: routing accuracy and task pass^k for a template's or your own eval set.

The command imports the harness (`evals.run`) when it runs, so `smart-support` starts fast."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from smart_support.errors import ConfigError
from smart_support.settings import load_settings


@click.command("eval")
@click.option("--template", "template", metavar="NAME", help="A template's eval set, agents, API.")
@click.option("--set", "eval_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--agents", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--api-url", metavar="URL", help="Your API (with --set): the agents call it.")
@click.option("--runs", type=click.IntRange(1, 50), default=1, show_default=True)
@click.option("--only", type=click.Choice(["routing", "tasks"]))
@click.option("--gold", is_flag=True, help="Replay tau2's gold actions through our tools.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path))
def eval_command(
    template: str | None,
    eval_file: Path | None,
    agents: Path | None,
    api_url: str | None,
    runs: int,
    only: str | None,
    gold: bool,
    json_out: Path | None,
    html_out: Path | None,
) -> None:
    """Evaluate agents on an eval set: routing accuracy per agent (the runtime's own router)
    and tasks run by a simulated customer through the real engine, graded from the API's end
    state, as pass^1..pass^RUNS. With --template the template's API is started here."""
    from smart_support.evals.report import write_html, write_json
    from smart_support.evals.run import (
        Target,
        allow_loopback,
        evaluate,
        running_target,
        template_target,
    )

    try:
        if template:
            target = template_target(template)
        elif eval_file and agents:
            target = Target(eval_file.stem, eval_file, agents, api_url=api_url)
        else:
            raise click.UsageError("give --template NAME, or --set FILE --agents FILE")
        settings = load_settings()
        with running_target(target) as url:
            report = asyncio.run(
                evaluate(
                    target,
                    allow_loopback(settings, url),
                    runs=runs,
                    only=only,
                    gold=gold,
                    api_url=url,
                )
            )
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if json_out:
        write_json(report, json_out)
        click.echo(f"wrote {json_out}")
    if html_out:
        write_html(report, html_out)
        click.echo(f"wrote {html_out}")
    gold_report = report.get("gold")
    if gold_report and gold_report["passed"] != gold_report["total"]:
        sys.exit(1)
