"""Vertical templates: `smart-support init --template NAME DIR` writes a working project
(agents.yaml, knowledge base, `.env.example`, README, eval set) and `smart-support api NAME`
runs its demo API. Each template is a folder here with a `template.yaml` (docs/templates.md)."""

from smart_support.templates.registry import Template, TemplateError, get_template, list_templates
from smart_support.templates.scaffold import Project, init

__all__ = ["Project", "Template", "TemplateError", "get_template", "init", "list_templates"]
