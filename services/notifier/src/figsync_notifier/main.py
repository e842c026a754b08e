"""Entry point of the notifier service: wire and run, nothing else."""

from figsync_notifier.bootstrap import build
from figsync_notifier.settings import NotifierSettings
from figsync_runtime import load_settings, run


def main() -> None:
    run("notifier", load_settings(NotifierSettings), build)


if __name__ == "__main__":
    main()
