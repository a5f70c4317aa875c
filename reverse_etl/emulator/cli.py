"""``rsync-braze emulator``: run the local Braze emulator in the foreground (no logic here)."""

from __future__ import annotations

import json
import signal
import threading

import click

from ..errors import ConfigError
from .config import EmulatorConfig


def _faults(value: str | None) -> dict:
    if not value:
        return {}
    from .faults import FaultError, validate

    try:
        return validate(json.loads(value))
    except (ValueError, FaultError) as exc:
        raise click.BadParameter(f"{exc} (example: '{{\"error_rate\": 0.1, \"latency_ms\": 20}}')") from None


@click.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback by default).")
@click.option("--port", type=click.IntRange(0, 65535), default=4010, show_default=True, help="TCP port (0: any free).")
@click.option("--api-key", envvar="RSYNC_BRAZE_EMULATOR_KEY", required=True,
              help="The REST API key it accepts as 'Authorization: Bearer KEY' (or RSYNC_BRAZE_EMULATOR_KEY).")
@click.option("--objects-per-request", type=click.IntRange(1, 10_000), default=75, show_default=True,
              help="Objects per /users/track request: combined across arrays, or per array with --legacy-per-array.")
@click.option("--legacy-per-array", is_flag=True, help="Count the object limit per array (legacy rate limits).")
@click.option("--rate-limit", "rate_limit", type=click.IntRange(min=1), default=3000, show_default=True,
              help="/users/track requests allowed per --rate-period.")
@click.option("--rate-period", type=click.FloatRange(min=0.001), default=3.0, show_default=True, help="Seconds.")
@click.option("--no-rate-limit", is_flag=True, help="Lift the /users/track rate limit (load tests).")
@click.option("--export-rate-limit", type=click.IntRange(min=1), default=250, show_default=True,
              help="/users/export/ids requests per minute.")
@click.option("--reset-header", type=click.Choice(["epoch", "delta"]), default="epoch", show_default=True,
              help="X-RateLimit-Reset as UTC epoch seconds or as seconds remaining.")
@click.option("--array-max", type=click.IntRange(1, 100_000), default=500, show_default=True,
              help="Elements kept in an array attribute (older docs: 100).")
@click.option("--error-types", type=click.Choice(["codes", "text"]), default="codes", show_default=True,
              help="errors[].type as code names (EMAIL_BAD_FORMAT...) where Braze has one, or always as text.")
@click.option("--state-file", type=click.Path(dir_okay=False), default=None,
              help="Keep profiles in this JSON file across restarts.")
@click.option("--faults", "faults", default=None, metavar="JSON",
              help="Fault injection at start, e.g. '{\"error_rate\": 0.1, \"drop_after_apply_rate\": 0.05}'.")
@click.option("--error-rate", type=click.FloatRange(0, 1), default=0.0, help="Share of requests answered 5xx.")
@click.option("--latency-ms", type=click.FloatRange(0, 3_600_000), default=0.0, help="Added latency per request.")
def emulator(host, port, api_key, objects_per_request, legacy_per_array, rate_limit, rate_period, no_rate_limit,
             export_rate_limit, reset_header, array_max, error_types, state_file, faults, error_rate, latency_ms):
    """Run a local Braze REST instance (/users/track and the endpoints a sync needs) until Ctrl-C.

    Profiles, counters and faults are under /_emulator/ (loopback only, no key): GET profiles,
    profiles/<external_id>, counters, requests, faults, config; POST reset, faults.

    \b
    Examples:
      rsync-braze emulator --api-key dev-key
      rsync-braze emulator --api-key dev-key --state-file .rsync-braze/emulator.json
      rsync-braze emulator --api-key dev-key --faults '{"error_rate": 0.05, "seed": 1}'
      curl -s http://127.0.0.1:4010/_emulator/counters
    """
    from . import run

    settings = _faults(faults)
    settings.update({k: val for k, val in (("error_rate", error_rate), ("latency_ms", latency_ms)) if val})
    config = EmulatorConfig(api_key=api_key, host=host, port=port, objects_per_request=objects_per_request,
                            legacy_per_array=legacy_per_array, rate_limit_requests=None if no_rate_limit else rate_limit,
                            rate_limit_period=rate_period, export_rate_requests=export_rate_limit,
                            reset_header=reset_header, array_max=array_max, error_types=error_types,
                            state_file=state_file, faults=settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    def ready(bound: int) -> None:
        click.echo(f"Braze emulator on http://{host}:{bound} (Ctrl-C stops it)", err=True)

    try:
        run(config, ready, stop.is_set, own_process=True)
    except OSError as exc:
        raise ConfigError(f"The emulator cannot listen on {host}:{port} ({exc.strerror or exc}): "
                          "pick another --port.") from None
    click.echo("Braze emulator stopped.", err=True)
