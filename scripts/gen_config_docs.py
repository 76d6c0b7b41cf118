"""Regenerate docs/configuration.md and config.example.toml from tradingmodel.config.

Run: .venv/bin/python scripts/gen_config_docs.py  (a test checks both files are current).
"""

from __future__ import annotations

from pathlib import Path

from tradingmodel.config import AppConfig, Settings, config_to_toml

ROOT = Path(__file__).resolve().parents[1]

HEADER = """# Configuration

Two sources, on purpose:

* **Environment / `.env`** (machine-specific, secret): see `.env.example`.
* **A TOML file** passed with `--config FILE` to every command (the experiment): `[model]` and `[trading]`
  tables. Every key is optional; a command-line option of the same name (e.g. `--epochs`, `--buy-threshold`)
  overrides the file. A bad value or an unknown key stops the command at start with a message naming the key,
  e.g. `[model] sequence_length: Input should be greater than 0`.

The config used is stored beside every checkpoint and run, so each run can be reproduced.

This page is generated from `src/tradingmodel/config.py` by `scripts/gen_config_docs.py`.
"""

EXAMPLE_HEADER = (
    "# tradingmodel configuration: the defaults. Pass with --config FILE; every value is optional.\n"
    "# Each command-line option of the same name overrides the file. Units are in docs/configuration.md.\n\n"
)


def config_docs() -> str:
    out = [HEADER, "## Environment\n", "| variable | default |", "|---|---|"]
    for name, field in Settings.model_fields.items():
        out.append(f"| `{name.upper()}` | `{field.default}` |")
    cfg = AppConfig()
    for section in ("model", "trading"):
        out += ["", f"## `[{section}]`", "", "| key | default | meaning and unit |", "|---|---|---|"]
        model = getattr(cfg, section)
        for name, field in type(model).model_fields.items():
            out.append(f"| `{name}` | `{getattr(model, name)}` | {field.description or ''} |")
    return "\n".join(out) + "\n"


def example_toml() -> str:
    return EXAMPLE_HEADER + config_to_toml(AppConfig())


if __name__ == "__main__":
    (ROOT / "docs" / "configuration.md").write_text(config_docs())
    (ROOT / "config.example.toml").write_text(example_toml())
    print("wrote docs/configuration.md and config.example.toml")
