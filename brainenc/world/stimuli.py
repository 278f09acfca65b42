"""The world's stimuli: procedural images of faces, bodies, places, words and food.

Every image is drawn from its own random stream ``(seed, index)``, so image ``i`` of a seed is the
same whatever the number of images asked for. Each image comes with its category, a few named
attributes and a ground-truth caption built from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from tqdm.auto import tqdm

from ..data.images import ArrayImages

CATEGORIES = ("face", "body", "place", "word", "food")
IMAGE_SIZE = 64
_CANVAS = 2 * IMAGE_SIZE  # drawn at twice the size, then downsampled (anti-aliasing)

COLOURS = {
    "red": (200, 40, 40),
    "orange": (235, 130, 30),
    "yellow": (235, 210, 50),
    "green": (60, 160, 60),
    "blue": (50, 90, 200),
    "purple": (130, 60, 170),
    "brown": (120, 75, 40),
    "black": (25, 25, 25),
    "white": (235, 235, 235),
    "gray": (128, 128, 128),
}
BACKGROUNDS = ("white", "gray", "blue", "green", "yellow", "purple")
SKIN = {"light": (240, 200, 170), "tan": (200, 150, 110), "dark": (110, 70, 45)}
SKIN_TONES = tuple(SKIN)
"""The skin tones faces are drawn with; :attr:`Stimuli.skin_tones` indexes into it."""
WORDS = (
    "cat", "dog", "sun", "tree", "book", "house", "river", "green", "water", "light",
    "music", "apple", "chair", "table", "road", "city", "bird", "fish", "moon", "star",
    "rain", "snow", "door", "fire", "wind", "stone", "paper", "phone", "clock", "bread",
)  # fmt: skip


@dataclass(frozen=True)
class Stimuli:
    """Images with their ground truth.

    Attributes
    ----------
    images : ArrayImages
        ``uint8`` images of shape (n, 64, 64, 3).
    labels : int array of shape (n,)
        Index into :data:`CATEGORIES`.
    captions : list of str
    attributes : list of dict
        The generator's parameters of each image (category-specific names).
    """

    images: ArrayImages
    labels: np.ndarray
    captions: list[str]
    attributes: list[dict]

    @property
    def categories(self) -> list[str]:
        return [CATEGORIES[k] for k in self.labels]

    @property
    def skin_tones(self) -> np.ndarray:
        """Int array (n,): each face's skin tone (index into :data:`SKIN_TONES`), -1 for every
        image that is no face."""
        return np.array([SKIN_TONES.index(a["skin"]) if CATEGORIES[k] == "face" else -1
                         for k, a in zip(self.labels, self.attributes, strict=True)])  # fmt: skip


def generate_stimuli(n: int, seed: int = 0, *, start: int = 0, progress: bool = False) -> Stimuli:
    """Draw images ``start .. start + n - 1`` of the world's stimulus stream ``seed``
    (``progress``: a progress bar).

    Categories cycle (face, body, place, word, food), so any 5 consecutive images hold one of
    each; everything else (position, size, colours, pose, text…) is random per image.

    Examples
    --------
    >>> stim = generate_stimuli(10, seed=0)
    >>> stim.images[0].shape, stim.categories[:2], stim.captions[0]  # doctest: +SKIP
    ((64, 64, 3), ['face', 'body'], 'a face of a smiling person with light skin ...')
    """
    if n < 0 or start < 0:
        raise ValueError(f"n and start must be non-negative; got n={n}, start={start}")
    images = np.empty((n, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    labels = np.empty(n, dtype=np.int64)
    captions, attributes = [], []
    for i in tqdm(range(n), desc="world images", unit="img", disable=not progress):
        index = start + i
        label = index % len(CATEGORIES)
        rng = np.random.default_rng([seed, index])
        image, attrs = _DRAW[CATEGORIES[label]](rng)
        images[i] = image
        labels[i] = label
        attributes.append(attrs)
        captions.append(caption(CATEGORIES[label], attrs))
    return Stimuli(ArrayImages(images), labels, captions, attributes)


COMPOSITE_SIZE = 2 * IMAGE_SIZE
"""Side of a composite image: a 2 × 2 field of world images."""
MAX_OBJECTS = 3
"""Most objects in a composite (the fewest is two)."""
COMPOSITE_BACKGROUND = "gray"
"""The field the objects of a composite lie on: the one background no word is drawn on."""


def generate_composites(n: int, seed: int = 0, *, start: int = 0,
                        progress: bool = False) -> Stimuli:  # fmt: skip
    """Draw composites ``start .. start + n - 1`` of stream ``seed``: scenes where position
    matters.

    A composite is a 128 × 128 image: a 2 × 2 grid of slots, two or three of which hold a world
    image (an object) each, of different categories, in random slots; the rest is a plain
    :data:`COMPOSITE_BACKGROUND` field with pixel noise. Each object is a whole world image,
    drawn as :func:`generate_stimuli` draws one. Shown at the world's display size, every object
    spans half the field: it is smaller, and off centre. The field is gray because it is the
    one background no world word is drawn on: the truth's word evidence for a plain field of
    any other background colour is 0.2–0.4, for gray 0.03, so empty slots of another colour
    would drive VWFA as a faint word does.

    ``attributes[i]["objects"]`` lists the objects: ``category``, ``box`` (``[x0, y0, x1, y1]``
    in pixels of the composite, ``x1``/``y1`` exclusive) and ``caption``. ``labels`` holds the
    first object's category; the caption joins the objects' captions.
    """
    if n < 0 or start < 0:
        raise ValueError(f"n and start must be non-negative; got n={n}, start={start}")
    size = COMPOSITE_SIZE
    slots = [(x, y) for y in range(0, size, IMAGE_SIZE) for x in range(0, size, IMAGE_SIZE)]
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    labels = np.empty(n, dtype=np.int64)
    captions, attributes = [], []
    for i in tqdm(range(n), desc="world composites", unit="img", disable=not progress):
        index = start + i
        rng = np.random.default_rng([seed, index, 1])
        canvas = np.empty((size, size, 3), np.float32)
        canvas[:] = _jitter(COLOURS[COMPOSITE_BACKGROUND], rng, 15)
        canvas += rng.normal(0.0, 4.0, size=canvas.shape)
        canvas = np.clip(canvas, 0, 255).astype(np.uint8)
        categories = rng.permutation(len(CATEGORIES))[: rng.integers(2, MAX_OBJECTS + 1)]
        objects = []
        places = rng.permutation(len(slots))
        for k, label in enumerate(categories):
            x, y = slots[places[k]]
            image, attrs = _DRAW[CATEGORIES[label]](np.random.default_rng([seed, index, 2, k]))
            canvas[y : y + IMAGE_SIZE, x : x + IMAGE_SIZE] = image
            name = CATEGORIES[label]
            box = [x, y, x + IMAGE_SIZE, y + IMAGE_SIZE]
            objects.append({"category": name, "caption": caption(name, attrs), "box": box})
        images[i] = canvas
        labels[i] = CATEGORIES.index(objects[0]["category"])
        attributes.append({"background": COMPOSITE_BACKGROUND, "objects": objects})
        captions.append(" and ".join(o["caption"] for o in objects))
    return Stimuli(ArrayImages(images), labels, captions, attributes)


def composite_boxes(composites: Stimuli) -> tuple[np.ndarray, np.ndarray]:
    """Each composite's object boxes, float32 (n, MAX_OBJECTS, 4) (``[x0, y0, x1, y1]``, NaN
    where it holds fewer objects), and their categories, (n, MAX_OBJECTS) indices into
    :data:`CATEGORIES` (-1 where none)."""
    n = len(composites.attributes)
    boxes = np.full((n, MAX_OBJECTS, 4), np.nan, np.float32)
    labels = np.full((n, MAX_OBJECTS), -1, np.int64)
    for i, attrs in enumerate(composites.attributes):
        for k, obj in enumerate(attrs["objects"]):
            boxes[i, k], labels[i, k] = obj["box"], CATEGORIES.index(obj["category"])
    return boxes, labels


def caption(category: str, attrs: dict) -> str:
    """The ground-truth caption of an image from its category and attributes."""
    where = f"on a {attrs['background']} background" if "background" in attrs else ""
    if category == "face":
        extra = " with glasses" if attrs["glasses"] else ""
        text = f"a face of a {attrs['expression']} person with {attrs['skin']} skin{extra}"
    elif category == "body":
        text = f"a person in a {attrs['shirt']} shirt {attrs['pose']}"
    elif category == "place":
        if attrs["kind"] == "room":
            text = f"an empty room with {attrs['colour']} walls"
        else:
            what = "a city street with {} buildings" if attrs["kind"] == "city" else "a {} house"
            text = f"{what.format(attrs['colour'])} under a {attrs['sky']} sky"
    elif category == "word":
        text = f"the word {attrs['text']} written in {attrs['colour']}"
    elif category == "food":
        text = f"a plate of {attrs['dish']} on a {attrs['table']} table"
    else:
        raise ValueError(f"unknown category {category!r}; known: {', '.join(CATEGORIES)}")
    return f"{text} {where}".strip()


# --------------------------------------------------------------------------- drawing helpers


def _pick(rng: np.random.Generator, options):
    options = list(options)
    return options[rng.integers(len(options))]


def _jitter(colour, rng, amount=20):
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in colour)


def _object_canvas(rng: np.random.Generator, exclude=()):
    """A plain background and a random placement (centre, scale) for a single object."""
    name = _pick(rng, [b for b in BACKGROUNDS if b not in exclude])
    img = Image.new("RGB", (_CANVAS, _CANVAS), _jitter(COLOURS[name], rng, 15))
    scale = rng.uniform(0.6, 1.0)
    centre = _CANVAS / 2 + rng.uniform(-0.18, 0.18, size=2) * _CANVAS
    return img, ImageDraw.Draw(img), name, scale, centre


def _finish(img: Image.Image, rng: np.random.Generator) -> np.ndarray:
    small = img.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)
    arr = np.asarray(small, dtype=np.float32)
    arr += rng.normal(0.0, 4.0, size=arr.shape)  # sensor-like pixel noise
    return np.clip(arr, 0, 255).astype(np.uint8)


def _ellipse(draw, cx, cy, rx, ry, fill, outline=None, width=1):
    draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=fill, outline=outline, width=width)


# --------------------------------------------------------------------------- categories


def _face(rng):
    img, draw, bg, s, (cx, cy) = _object_canvas(rng)
    skin = _pick(rng, SKIN)
    expression = _pick(rng, ("smiling", "neutral"))
    glasses = bool(rng.random() < 0.3)
    hair = _pick(rng, ("black", "brown", "yellow", "gray"))
    r = 40 * s
    _ellipse(draw, cx, cy - 0.55 * r, 0.95 * r, 0.7 * r, fill=_jitter(COLOURS[hair], rng))
    _ellipse(draw, cx, cy, 0.8 * r, r, fill=_jitter(SKIN[skin], rng, 10))
    for side in (-1, 1):
        ex, ey = cx + side * 0.35 * r, cy - 0.15 * r
        _ellipse(draw, ex, ey, 0.17 * r, 0.11 * r, fill=(250, 250, 250))
        _ellipse(draw, ex, ey, 0.07 * r, 0.07 * r, fill=(20, 20, 20))
        draw.line(
            [ex - 0.18 * r, ey - 0.25 * r, ex + 0.18 * r, ey - 0.28 * r],
            fill=(40, 30, 20),
            width=max(1, int(0.07 * r)),
        )
        if glasses:
            _ellipse(
                draw,
                ex,
                ey,
                0.24 * r,
                0.19 * r,
                fill=None,
                outline=(20, 20, 20),
                width=max(1, int(0.05 * r)),
            )
    draw.line([cx, cy - 0.05 * r, cx - 0.06 * r, cy + 0.25 * r], fill=(90, 50, 40), width=2)
    mouth = [cx - 0.3 * r, cy + 0.3 * r, cx + 0.3 * r, cy + 0.6 * r]
    if expression == "smiling":
        draw.arc(mouth, 10, 170, fill=(150, 30, 40), width=max(2, int(0.08 * r)))
    else:
        draw.line(
            [cx - 0.25 * r, cy + 0.5 * r, cx + 0.25 * r, cy + 0.5 * r],
            fill=(150, 30, 40),
            width=max(2, int(0.07 * r)),
        )
    attrs = {
        "skin": skin,
        "expression": expression,
        "glasses": glasses,
        "hair": hair,
        "background": bg,
        "size": float(s),
        "x": float(cx / _CANVAS),
        "y": float(cy / _CANVAS),
    }
    return _finish(img, rng), attrs


_POSES = {  # (left arm angle, right arm angle, leg spread) in degrees from straight down
    "standing": (15, 15, 8),
    "with arms raised": (160, 160, 10),
    "with arms out": (90, 90, 12),
    "walking": (35, -25, 25),
}


def _body(rng):
    img, draw, bg, s, (cx, cy) = _object_canvas(rng)
    shirt = _pick(rng, [c for c in COLOURS if c != bg])
    pants = _pick(rng, ("blue", "black", "brown", "gray"))
    pose = _pick(rng, _POSES)
    left, right, spread = _POSES[pose]
    h = 95 * s  # body height (shoulder to feet)
    top = cy - 0.45 * h
    skin = _jitter(_pick(rng, list(SKIN.values())), rng, 10)
    limb = max(3, int(0.09 * h))
    for side, angle in ((-1, left), (1, right)):  # arms
        a = np.deg2rad(angle)
        sx, sy = cx + side * 0.13 * h, top + 0.05 * h
        draw.line(
            [sx, sy, sx + side * np.sin(a) * 0.38 * h, sy + np.cos(a) * 0.38 * h],
            fill=skin,
            width=limb,
        )
    for side in (-1, 1):  # legs
        a = np.deg2rad(spread)
        hx, hy = cx + side * 0.07 * h, top + 0.5 * h
        draw.line(
            [hx, hy, hx + side * np.sin(a) * 0.5 * h, hy + np.cos(a) * 0.5 * h],
            fill=_jitter(COLOURS[pants], rng),
            width=int(limb * 1.3),
        )
    draw.rounded_rectangle(
        [cx - 0.15 * h, top, cx + 0.15 * h, top + 0.52 * h],
        radius=0.05 * h,
        fill=_jitter(COLOURS[shirt], rng),
    )
    _ellipse(draw, cx, top - 0.1 * h, 0.08 * h, 0.1 * h, fill=skin)  # small, featureless head
    attrs = {
        "shirt": shirt,
        "pants": pants,
        "pose": pose,
        "background": bg,
        "size": float(s),
        "x": float(cx / _CANVAS),
        "y": float(cy / _CANVAS),
    }
    return _finish(img, rng), attrs


_SKIES = {"blue": (110, 160, 230), "orange": (240, 150, 80), "dark": (30, 35, 70)}


def _place(rng):
    kind = _pick(rng, ("city", "house", "room"))
    colour = _pick(rng, ("gray", "brown", "white", "yellow", "red"))
    img = Image.new("RGB", (_CANVAS, _CANVAS))
    draw = ImageDraw.Draw(img)
    c = _CANVAS
    attrs = {"kind": kind, "colour": colour}
    if kind == "room":  # one-point perspective box
        wall = np.array(_jitter(COLOURS[colour], rng))
        vx, vy = c * rng.uniform(0.35, 0.65), c * rng.uniform(0.35, 0.6)
        w = c * rng.uniform(0.2, 0.35)
        back = [vx - w / 2, vy - w / 2, vx + w / 2, vy + w / 2]
        shade = lambda f: tuple(int(v) for v in np.clip(wall * f, 0, 255))  # noqa: E731
        draw.polygon([(0, 0), (c, 0), (back[2], back[1]), (back[0], back[1])], fill=shade(0.8))
        draw.polygon(
            [(0, c), (c, c), (back[2], back[3]), (back[0], back[3])],
            fill=_jitter(COLOURS["brown"], rng),
        )
        draw.polygon([(0, 0), (back[0], back[1]), (back[0], back[3]), (0, c)], fill=shade(0.65))
        draw.polygon([(c, 0), (back[2], back[1]), (back[2], back[3]), (c, c)], fill=shade(0.7))
        draw.rectangle(back, fill=shade(0.95))
        for corner in ((0, 0), (c, 0), (0, c), (c, c)):  # room edges
            draw.line(
                [
                    corner,
                    (
                        back[0] if corner[0] == 0 else back[2],
                        back[1] if corner[1] == 0 else back[3],
                    ),
                ],
                fill=(40, 40, 40),
                width=2,
            )
        return _finish(img, rng), attrs
    sky = _pick(rng, _SKIES)
    attrs["sky"] = sky
    horizon = c * rng.uniform(0.55, 0.75)
    draw.rectangle([0, 0, c, horizon], fill=_jitter(_SKIES[sky], rng, 10))
    draw.rectangle(
        [0, horizon, c, c], fill=_jitter((90, 90, 90) if kind == "city" else (70, 140, 60), rng, 15)
    )
    lit = (250, 230, 120) if sky == "dark" else (60, 80, 110)
    if kind == "city":
        x = -rng.uniform(0, 10)
        while x < c:
            w, h = rng.uniform(18, 36), rng.uniform(0.3, 0.9) * horizon
            draw.rectangle([x, horizon - h, x + w, horizon], fill=_jitter(COLOURS[colour], rng, 30))
            for wy in np.arange(horizon - h + 5, horizon - 6, 9):
                for wx in np.arange(x + 4, x + w - 5, 8):
                    draw.rectangle([wx, wy, wx + 4, wy + 4], fill=lit)
            x += w + rng.uniform(1, 5)
        draw.polygon(
            [(c * 0.42, horizon), (c * 0.58, horizon), (c * 0.8, c), (c * 0.2, c)],
            fill=(60, 60, 60),
        )
    else:
        hx, w = c * rng.uniform(0.3, 0.7), c * rng.uniform(0.35, 0.55)
        h = w * rng.uniform(0.5, 0.8)
        base = horizon + c * 0.08
        draw.rectangle([hx - w / 2, base - h, hx + w / 2, base], fill=_jitter(COLOURS[colour], rng))
        draw.polygon(
            [(hx - w / 2 - 6, base - h), (hx + w / 2 + 6, base - h), (hx, base - h - 0.5 * w)],
            fill=_jitter((150, 50, 40), rng),
        )
        draw.rectangle([hx - 0.08 * w, base - 0.45 * h, hx + 0.08 * w, base], fill=(80, 50, 30))
        for side in (-1, 1):
            wx = hx + side * 0.3 * w
            draw.rectangle(
                [wx - 0.08 * w, base - 0.75 * h, wx + 0.08 * w, base - 0.5 * h], fill=lit
            )
    return _finish(img, rng), attrs


@lru_cache(maxsize=16)
def _font(size: int):
    return ImageFont.load_default(size=size)


def _word(rng):
    img, draw, bg, s, (cx, cy) = _object_canvas(rng, exclude=("gray",))
    colour = _pick(rng, [c for c in ("black", "red", "blue", "white", "purple") if c != bg])
    text = _pick(rng, WORDS)
    font = _font(int(22 + 14 * s))
    draw.text((cx, cy), text, fill=_jitter(COLOURS[colour], rng, 10), font=font, anchor="mm")
    attrs = {
        "text": text,
        "colour": colour,
        "background": bg,
        "size": float(s),
        "x": float(cx / _CANVAS),
        "y": float(cy / _CANVAS),
    }
    return _finish(img, rng), attrs


def _food(rng):
    table = _pick(rng, ("brown", "white", "blue", "green"))
    img = Image.new("RGB", (_CANVAS, _CANVAS), _jitter(COLOURS[table], rng, 15))
    draw = ImageDraw.Draw(img)
    s = rng.uniform(0.6, 1.0)
    cx, cy = _CANVAS / 2 + rng.uniform(-0.15, 0.15, size=2) * _CANVAS
    r = 48 * s
    _ellipse(draw, cx, cy, r, 0.8 * r, fill=(245, 245, 240), outline=(190, 190, 190), width=2)
    dish = _pick(rng, ("pizza", "apples", "salad", "burger"))
    if dish == "pizza":
        _ellipse(draw, cx, cy, 0.8 * r, 0.64 * r, fill=(225, 160, 60))
        _ellipse(draw, cx, cy, 0.68 * r, 0.54 * r, fill=(215, 70, 40))
        for _ in range(7):
            dx, dy = rng.uniform(-0.45, 0.45, size=2) * r
            _ellipse(draw, cx + dx, cy + dy, 0.09 * r, 0.09 * r, fill=(150, 30, 30))
    elif dish == "apples":
        for _ in range(4):
            dx, dy = rng.uniform(-0.4, 0.4, size=2) * r
            ax, ay = cx + dx, cy + 0.6 * dy
            _ellipse(draw, ax, ay, 0.25 * r, 0.23 * r, fill=_jitter((200, 30, 30), rng))
            draw.line([ax, ay - 0.2 * r, ax + 0.05 * r, ay - 0.35 * r], fill=(90, 60, 20), width=2)
    elif dish == "salad":
        for _ in range(16):
            dx, dy = rng.uniform(-0.55, 0.55, size=2) * r
            fill = _pick(rng, ((60, 170, 60), (40, 130, 40), (220, 50, 50), (240, 220, 80)))
            _ellipse(draw, cx + dx, cy + 0.7 * dy, 0.13 * r, 0.1 * r, fill=fill)
    else:  # burger: bun, lettuce, patty, bun
        for dy, ry, fill in (
            (-0.18, 0.22, (220, 160, 80)),
            (0.0, 0.1, (70, 170, 60)),
            (0.1, 0.12, (100, 55, 30)),
            (0.26, 0.12, (215, 150, 70)),
        ):
            _ellipse(draw, cx, cy + dy * r, 0.55 * r, ry * r, fill=_jitter(fill, rng, 10))
    attrs = {
        "dish": dish,
        "table": table,
        "size": float(s),
        "x": float(cx / _CANVAS),
        "y": float(cy / _CANVAS),
    }
    return _finish(img, rng), attrs


_DRAW = {"face": _face, "body": _body, "place": _place, "word": _word, "food": _food}
