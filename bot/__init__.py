"""Composition root: settings, the application factory, the CLI and the channel adapters."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vatandosh")
except PackageNotFoundError:  # running from a checkout that was not installed
    __version__ = "0.0.0"
