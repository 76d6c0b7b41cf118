"""Configuration: secrets and endpoints from the environment, parameters from a TOML file.

Two sources, on purpose:

* :class:`Settings` (pydantic-settings) reads the environment and ``.env``: API keys, URLs, the
  database. These differ per machine and must never be committed.
* :class:`AppConfig` reads a TOML file (``--config FILE``) with the model and trading parameters.
  These describe an experiment and are stored beside every run so it can be reproduced.

Every value is validated at start; a bad one fails with a message naming its key, e.g.
``[model] sequence_length: Input should be greater than 0``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("data")


class ConfigError(ValueError):
    """A configuration value is missing, unknown or out of range. The message names the key."""


class Settings(BaseSettings):
    """Machine-specific settings from the environment (and ``.env`` in the working directory)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    polygon_api_key: str = ""
    polygon_base_url: str = "https://api.polygon.io"
    polygon_ws_url: str = "wss://socket.polygon.io/stocks"
    database_url: str = f"sqlite:///{DEFAULT_DATA_DIR / 'tradingmodel.db'}"
    tradingmodel_api_keys: str = ""  # comma-separated keys accepted by the REST API
    tradingmodel_cors_origins: str = ""  # comma-separated browser origins allowed by CORS (none: closed)
    apca_api_key_id: str = ""  # Alpaca adapter (execution/alpaca)
    apca_api_secret_key: str = ""
    apca_api_base_url: str = "https://paper-api.alpaca.markets"  # the paper account by default
    apca_api_stream_url: str = ""  # trade_updates WebSocket; derived from the base URL when empty

    @property
    def api_keys(self) -> list[str]:
        return [k.strip() for k in self.tradingmodel_api_keys.split(",") if k.strip()]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(_Section):
    """LSTM and training parameters (the ``[model]`` table)."""

    sequence_length: int = Field(60, gt=0, description="bars in one input window")
    hidden_size: int = Field(128, gt=0, description="LSTM units per layer")
    num_layers: int = Field(2, gt=0, description="stacked LSTM layers")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout between LSTM layers")
    batch_size: int = Field(64, gt=0, description="windows per optimiser step")
    num_epochs: int = Field(50, gt=0, description="maximum passes over the training windows")
    learning_rate: float = Field(1e-3, gt=0, description="Adam learning rate")
    patience: int = Field(5, ge=1, description="epochs without validation improvement before stopping")
    grad_clip: float = Field(1.0, gt=0, description="maximum gradient L2 norm")
    train_fraction: float = Field(0.70, gt=0, lt=1, description="share of bars for training")
    val_fraction: float = Field(0.15, gt=0, lt=1, description="share of bars for validation")
    seed: int = Field(42, description="seed for weights and shuffling (CPU runs are reproducible)")

    @model_validator(mode="after")
    def _fractions(self) -> ModelConfig:
        if self.train_fraction + self.val_fraction >= 1:
            raise ValueError("train_fraction + val_fraction must be below 1 (the rest is the test part)")
        return self


class TradingConfig(_Section):
    """Strategy, cost and risk parameters (the ``[trading]`` table). Units are in the descriptions."""

    buy_threshold: float = Field(1.5, ge=0, description="long entry: predicted rise, percent of price (or sigmas)")
    sell_threshold: float = Field(0.66, ge=0, description="short entry: predicted fall, percent of price (or sigmas)")
    threshold_unit: Literal["percent", "sigma"] = Field(
        "percent", description="'percent' of price, or 'sigma' = multiples of the recent stdev of 1-bar returns"
    )
    stop_loss_threshold: float = Field(0.005, gt=0, lt=1, description="adverse move that stops out, fraction")
    take_profit_threshold: float = Field(0.01, gt=0, description="favourable move that takes profit, fraction")
    max_holding_bars: int = Field(30, gt=0, description="exit after this many bars in a position")
    volume_multiplier: float = Field(1.0, ge=0, description="entry needs volume > this x its 20-bar average")
    rsi_overbought: float = Field(70.0, gt=0, lt=100, description="no long entry at or above this RSI")
    rsi_oversold: float = Field(30.0, gt=0, lt=100, description="no short entry at or below this RSI")
    cooldown_bars: int = Field(5, ge=0, description="bars without entries after a stop-out, per symbol")
    flatten_at_close: bool = Field(True, description="close positions on the last bar of each session")
    allow_short: bool = Field(True, description="take short entries")
    commission_bps: float = Field(0.0, ge=0, description="commission, basis points of traded value")
    commission_per_share: float = Field(0.005, ge=0, description="commission, dollars per share")
    slippage_bps: float = Field(1.0, ge=0, description="adverse slippage on every fill, basis points")
    deposit: float = Field(10_000.0, gt=0, description="starting cash, account currency")
    # risk limits
    sizing: Literal["fraction", "risk"] = Field(
        "fraction", description="'fraction': position_fraction of equity; 'risk': risk_per_trade lost at the stop"
    )
    position_fraction: float = Field(0.10, gt=0, le=1, description="equity share per position (sizing=fraction)")
    risk_per_trade: float = Field(0.01, gt=0, le=1, description="equity share lost if stopped (sizing=risk)")
    max_position_fraction: float = Field(0.25, gt=0, le=1, description="cap on one symbol's notional / equity")
    max_gross_exposure: float = Field(1.0, gt=0, description="cap on sum of |notional| / equity")
    max_open_positions: int = Field(10, gt=0, description="cap on simultaneous positions")
    daily_loss_limit: float = Field(0.02, gt=0, le=1, description="halt for the day after losing this share")
    max_drawdown_limit: float = Field(0.10, gt=0, le=1, description="halt for good after this drawdown")

    @model_validator(mode="after")
    def _rsi(self) -> TradingConfig:
        if self.rsi_oversold >= self.rsi_overbought:
            raise ValueError("rsi_oversold must be below rsi_overbought")
        return self


class AppConfig(_Section):
    """The whole experiment configuration, as stored beside each run."""

    model: ModelConfig = Field(default_factory=ModelConfig)
    trading: TradingConfig = Field(default_factory=TradingConfig)


def _format_error(err: ValidationError) -> str:
    """``[model] sequence_length: Input should be greater than 0``: the table, the key, the reason."""
    lines = []
    for e in err.errors():
        loc = [str(p) for p in e["loc"]]
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"].removeprefix("Value error, ")
        if not loc:
            where = "config"
        elif loc[0] in AppConfig.model_fields:
            where = f"[{loc[0]}]" + (f" {'.'.join(loc[1:])}" if len(loc) > 1 else "")
            if len(loc) == 1 and e["type"] == "model_type":
                msg = "must be a table"
        elif isinstance(e.get("input"), dict):
            where, msg = f"[{loc[0]}]", "unknown table (the config has [model] and [trading])"
        else:  # a top-level key outside any table
            where, msg = loc[0], "unknown key (settings belong in a [model] or [trading] table)"
        lines.append(f"{where}: {msg}")
    return "; ".join(lines)


def load_config(path: str | Path | None = None, overrides: dict[str, dict[str, Any]] | None = None) -> AppConfig:
    """Read a TOML config (or the defaults), apply ``{"model": {...}, "trading": {...}}`` overrides.

    Overrides whose value is ``None`` are ignored, so CLI options can be passed straight through.
    Raises :class:`ConfigError` naming the offending key.
    """
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {p}") from None
        except IsADirectoryError:
            raise ConfigError(f"{p}: is a folder, not a TOML config file") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{p}: not a text file (a TOML config is UTF-8 text)") from None
        except OSError as e:
            raise ConfigError(f"{p}: cannot read the config file ({e.strerror or e})") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{p}: not valid TOML: {e}") from None
    for section, values in (overrides or {}).items():
        for key, value in values.items():
            if value is not None:
                data.setdefault(section, {})[key] = value
    try:
        return AppConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(f"{path or 'config'}: {_format_error(e)}") from None


def config_to_toml(cfg: AppConfig) -> str:
    """Serialise a config as TOML (stored in checkpoints and run folders)."""
    out = []
    for section, model in (("model", cfg.model), ("trading", cfg.trading)):
        out.append(f"[{section}]")
        for key, value in model.model_dump().items():
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, str):
                text = f'"{value}"'
            else:
                text = repr(value)
            out.append(f"{key} = {text}")
        out.append("")
    return "\n".join(out)
