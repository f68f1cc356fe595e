"""Render every MJML template under templates/ with the sample edition (tests/golden/fixture.json)
into a folder, so that the official MJML can validate real MJML rather than Jinja source.

    .venv/bin/python tools/mjml-validate/dump_mjml.py OUT_DIR
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

from compose.config import Config
from compose.edition import build_edition
from compose.email import TEMPLATES_DIR, render_mjml
from compose.models import Item

FIXTURE = Path(__file__).resolve().parents[2] / "tests" / "golden" / "fixture.json"


def sample_edition():
    """The fixed Socitm sample edition and its config."""
    data = json.loads(FIXTURE.read_text(encoding="utf-8"))
    config = Config.model_validate(data["config"])
    items = [
        Item(**{**raw, "published": datetime.fromisoformat(raw["published"])}) for raw in data["items"]
    ]
    edition = build_edition(
        items, config=config, now=datetime.fromisoformat(data["now"]), slug=data["slug"],
        intro_markdown=data["intro_markdown"], featured_url=data["featured_url"],
    )
    return edition, config


def main(out_dir: str) -> int:
    edition, config = sample_edition()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for template in sorted(TEMPLATES_DIR.rglob("*.mjml")):
        name = template.relative_to(TEMPLATES_DIR).as_posix()
        if name.startswith("email/"):
            continue  # partials are checked through the templates that include them
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render_mjml(edition, config=config, template=name), encoding="utf-8")
        print(target)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: dump_mjml.py OUT_DIR")
    sys.exit(main(sys.argv[1]))
