"""Entry point of the ingest service: wire and run, nothing else."""

from figsync_ingest.bootstrap import build
from figsync_ingest.settings import IngestSettings
from figsync_runtime import load_settings, run


def main() -> None:
    run("ingest", load_settings(IngestSettings), build)


if __name__ == "__main__":
    main()
