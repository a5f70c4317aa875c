"""``rsync-braze emulator``: run the local Braze emulator in the foreground."""

from __future__ import annotations

import signal
import threading

import click

from .config import EmulatorConfig


@click.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback by default).")
@click.option("--port", type=click.IntRange(0, 65535), default=4010, show_default=True, help="TCP port (0: any free).")
@click.option("--api-key", envvar="RSYNC_BRAZE_EMULATOR_KEY", required=True,
              help="The REST API key it accepts (or RSYNC_BRAZE_EMULATOR_KEY).")
@click.option("--objects-per-request", type=click.IntRange(1, 10_000), default=75, show_default=True,
              help="Objects per /users/track request (combined, or per array with --legacy-per-array).")
@click.option("--legacy-per-array", is_flag=True, help="Count the object limit per array (legacy rate limits).")
@click.option("--rate-limit", "rate_limit", type=click.IntRange(min=1), default=3000, show_default=True,
              help="/users/track requests allowed per --rate-period.")
@click.option("--rate-period", type=click.FloatRange(min=0.001), default=3.0, show_default=True, help="Seconds.")
@click.option("--no-rate-limit", is_flag=True, help="Lift the /users/track rate limit (for load tests).")
@click.option("--reset-header", type=click.Choice(["epoch", "delta"]), default="epoch", show_default=True,
              help="X-RateLimit-Reset as epoch seconds or as seconds remaining.")
@click.option("--state-file", type=click.Path(dir_okay=False), default=None,
              help="Keep profiles in this JSON file across restarts.")
@click.option("--error-rate", type=click.FloatRange(0, 1), default=0.0, help="Share of requests answered 5xx.")
@click.option("--latency-ms", type=click.FloatRange(min=0), default=0.0, help="Added latency per request.")
def emulator(host, port, api_key, objects_per_request, legacy_per_array, rate_limit, rate_period, no_rate_limit,
             reset_header, state_file, error_rate, latency_ms):
    """Run a local Braze REST instance (/users/track and the endpoints a sync needs) until Ctrl-C.

    \b
    Examples:
      rsync-braze emulator --api-key dev-key
      RSYNC_BRAZE_ENDPOINT=http://127.0.0.1:4010 BRAZE_API_KEY=dev-key rsync-braze run
      curl -s http://127.0.0.1:4010/_emulator/counters
    """
    from . import serve

    faults = {k: val for k, val in (("error_rate", error_rate), ("latency_ms", latency_ms)) if val}
    config = EmulatorConfig(api_key=api_key, host=host, port=port, objects_per_request=objects_per_request,
                            legacy_per_array=legacy_per_array, rate_limit_requests=None if no_rate_limit else rate_limit,
                            rate_limit_period=rate_period, reset_header=reset_header, state_file=state_file,
                            faults=faults)
    stop, ready = threading.Event(), threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    click.echo(f"Braze emulator on http://{host}:{port} (Ctrl-C stops it)", err=True)
    try:
        serve(config, ready, stop)
    except OSError as exc:
        from ..errors import ConfigError

        raise ConfigError(f"The emulator cannot listen on {host}:{port} ({exc.strerror}): pick another --port.") from None
    click.echo("Braze emulator stopped.", err=True)
