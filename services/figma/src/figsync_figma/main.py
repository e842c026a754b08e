"""Entry point of the figma service: wire and run, nothing else."""

from figsync_figma.bootstrap import build
from figsync_figma.settings import FigmaSettings
from figsync_runtime import load_settings, run


def main() -> None:
    run("figma", load_settings(FigmaSettings), build)


if __name__ == "__main__":
    main()
