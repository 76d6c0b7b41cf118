from pathlib import Path

import pytest

from tradingmodel.config import AppConfig, ConfigError, config_to_toml, load_config


def test_defaults_match_the_seed() -> None:
    cfg = load_config()
    m, t = cfg.model, cfg.trading
    assert (m.sequence_length, m.hidden_size, m.num_layers, m.batch_size, m.num_epochs) == (60, 128, 2, 64, 50)
    assert m.learning_rate == 1e-3
    assert (t.buy_threshold, t.sell_threshold, t.stop_loss_threshold) == (1.5, 0.66, 0.005)


def test_file_and_overrides(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text("[model]\nsequence_length = 30\n[trading]\nbuy_threshold = 0.2\n")
    cfg = load_config(f, {"model": {"num_epochs": 3, "batch_size": None}})
    assert cfg.model.sequence_length == 30
    assert cfg.model.num_epochs == 3
    assert cfg.model.batch_size == 64
    assert cfg.trading.buy_threshold == 0.2


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[model]\nsequence_length = 0\n", "[model] sequence_length"),
        ("[trading]\nbuy_threshold = -1\n", "[trading] buy_threshold"),
        ("[model]\nbogus = 1\n", "[model] bogus: unknown key"),
        ("[nonsense]\nx = 1\n", "[nonsense]: unknown table"),
        ("sequence_length = 3\n", "sequence_length: unknown key (settings belong in a [model] or [trading] table)"),
        ("[model]\ntrain_fraction = 0.9\n", "c.toml: [model]: train_fraction + val_fraction must be below 1"),
        ("[model\n", "not valid TOML"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, needle: str) -> None:
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(f)
    assert needle in str(e.value)


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_toml_round_trip(tmp_path: Path) -> None:
    cfg = load_config(overrides={"trading": {"threshold_unit": "sigma", "flatten_at_close": False}})
    f = tmp_path / "c.toml"
    f.write_text(config_to_toml(cfg))
    assert load_config(f) == cfg
    assert isinstance(cfg, AppConfig)


def test_generated_config_docs_are_current() -> None:
    import importlib.util

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("gen", root / "scripts" / "gen_config_docs.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    stale = "stale: run `.venv/bin/python scripts/gen_config_docs.py`"
    assert (root / "docs" / "configuration.md").read_text() == gen.config_docs(), stale
    assert (root / "config.example.toml").read_text() == gen.example_toml(), stale
    assert load_config(root / "config.example.toml") == AppConfig()
