"""Entry point of the projector service: wire and run, nothing else."""

from figsync_projector.bootstrap import build
from figsync_projector.settings import ProjectorSettings
from figsync_runtime import load_settings, run


def main() -> None:
    run("projector", load_settings(ProjectorSettings), build)


if __name__ == "__main__":
    main()
