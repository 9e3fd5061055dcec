"""Where the repository and the shared data sets are."""
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
DATASETS = SHARED / "datasets"
FACES = DATASETS / "deepface_faces"
