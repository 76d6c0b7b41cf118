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
* **A TOML file** passed with `--config FILE` (the experiment): `[model]` and `[trading]` tables. Every key is
  optional. A bad value or an unknown key stops the command at start with one line naming the file, the table
  and the key, e.g. `cfg.toml: [model] sequence_length: Input should be greater than 0`.

The commands that read these settings take `--config`:

{commands}

The other commands (`simulate`, `features`, `validate-bars`, `import`, `db`, `fetch`, `stream`, `report`) read
no `[model]` or `[trading]` setting and take no `--config`; they are set by their options and the environment.

Only some keys also have a command-line option, which overrides the file; they are listed in the *option*
column below (`train` for `[model]`, `backtest` for `[trading]`). A key without an option is set in the file.

The config used is stored beside every checkpoint and run, so each run can be reproduced.

This page is generated from `src/tradingmodel/config.py` and the commands' options by
`scripts/gen_config_docs.py`.
"""

# (command, what it reads from the file), the table of commands that take --config
CONFIG_COMMANDS = (
    ("`train`", "`[model]`"),
    ("`backtest`", "`[trading]` (a model's own settings come from its checkpoint)"),
    (
        "`demo`",
        "`[trading]`, and `[model]` with `--full` (without it, the demo's small network replaces the "
        "file's sizes and epochs)",
    ),
    (
        "`evaluate`, `predict`",
        "the `[model]` keys `sequence_length`, `hidden_size`, `num_layers` the file sets: a "
        "model trained with others is refused; all else comes from the checkpoint",
    ),
)

# the command whose options override each table: a parameter named like the key is its option
OVERRIDING_COMMAND = {"model": "train", "trading": "backtest"}


def cli_options(command: str) -> dict[str, str]:
    """Parameter name -> its option(s), e.g. ``{"num_epochs": "--epochs"}``, for one CLI command."""
    from typer.main import get_command

    from tradingmodel.cli import app

    cmd = get_command(app).commands[command]  # type: ignore[attr-defined]
    return {
        p.name: " / ".join(f"`{o}`" for o in (*p.opts, *p.secondary_opts) if o.startswith("--"))
        for p in cmd.params
        if p.name
    }


EXAMPLE_HEADER = (
    "# tradingmodel configuration: the defaults. Pass with --config FILE; every value is optional.\n"
    "# Each command-line option of the same name overrides the file. Units are in docs/configuration.md.\n\n"
)


def config_docs() -> str:
    commands = "\n".join(["| command | reads |", "|---|---|", *(f"| {c} | {r} |" for c, r in CONFIG_COMMANDS)])
    out = [HEADER.format(commands=commands), "## Environment\n", "| variable | default |", "|---|---|"]
    for name, field in Settings.model_fields.items():
        out.append(f"| `{name.upper()}` | `{field.default}` |")
    cfg = AppConfig()
    for section in ("model", "trading"):
        command = OVERRIDING_COMMAND[section]
        options = cli_options(command)
        out += [
            "",
            f"## `[{section}]`",
            "",
            f"| key | default | meaning and unit | option (`{command}`) |",
            "|---|---|---|---|",
        ]
        model = getattr(cfg, section)
        for name, field in type(model).model_fields.items():
            out.append(
                f"| `{name}` | `{getattr(model, name)}` | {field.description or ''} | {options.get(name, '-')} |"
            )
    return "\n".join(out) + "\n"


def example_toml() -> str:
    return EXAMPLE_HEADER + config_to_toml(AppConfig())


if __name__ == "__main__":
    (ROOT / "docs" / "configuration.md").write_text(config_docs())
    (ROOT / "config.example.toml").write_text(example_toml())
    print("wrote docs/configuration.md and config.example.toml")
