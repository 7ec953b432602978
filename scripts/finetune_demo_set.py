"""Make a small two-class fine-tune set from the bundled sample photos.

    python scripts/finetune_demo_set.py demo        # demo/people/*.jpg, demo/things/*.jpg
    cnnviz finetune demo --out head.safetensors

Six random crops (every other one mirrored) of each photo: "people" from the astronaut and
Grace Hopper, "things" from the espresso, the rocket and the palace. Crops of the same
photos land on both sides of the hold-out split, so the held-out accuracy shows the head
learned the classes of these photos, not that it generalises.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from PIL import Image, ImageOps

SAMPLES = Path(__file__).resolve().parent.parent / "resources" / "samples"
CLASSES = {"people": ["astronaut", "grace_hopper"], "things": ["coffee", "rocket", "palace"]}


def main(out: str, per_photo: int = 6, seed: int = 0) -> None:
    rng = random.Random(seed)
    for name, photos in CLASSES.items():
        folder = Path(out, name)
        folder.mkdir(parents=True, exist_ok=True)
        for photo in photos:
            with Image.open(SAMPLES / f"{photo}.jpg") as im:
                image = im.convert("RGB")
            w, h = image.size
            for i in range(per_photo):
                s = rng.uniform(0.5, 0.9)
                cw, ch = int(w * s), int(h * s)
                x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
                crop = image.crop((x, y, x + cw, y + ch))
                (ImageOps.mirror(crop) if i % 2 else crop).save(folder / f"{photo}_{i}.jpg")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "finetune-demo")
