"""figsync's service runtime: settings, logs, tracing, health, the step runner and its host."""

from figsync_runtime.errors import PermanentError, RetryableError, StepError, WaitError
from figsync_runtime.service import Resources, Wiring, run, serve
from figsync_runtime.settings import RuntimeSettings, SettingsError, load_settings
from figsync_runtime.steps import Step, StepContext, StepRunner

__all__ = [
    "PermanentError",
    "Resources",
    "RetryableError",
    "RuntimeSettings",
    "SettingsError",
    "Step",
    "StepContext",
    "StepError",
    "StepRunner",
    "WaitError",
    "Wiring",
    "load_settings",
    "run",
    "serve",
]
