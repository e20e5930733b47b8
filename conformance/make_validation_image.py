"""Writes the official validators' test image: 1000x1000, a 10x10 grid of 100 px squares whose
colours are the table shipped inside the iiif-validator package (ValidationInfo.colorInfo,
indexed [column][row]). Usage: make_validation_image.py OUT.png"""

import sys

from iiif_validator.validator import ValidationInfo
from PIL import Image

colors = ValidationInfo().colorInfo
img = Image.new("RGB", (1000, 1000))
for x in range(10):
    for y in range(10):
        img.paste(colors[x][y], (x * 100, y * 100, x * 100 + 100, y * 100 + 100))
img.save(sys.argv[1])
