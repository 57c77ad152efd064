"""The class activity's data: a class a teacher creates, and the labelled drawings its students store.

A class has a public id (its join link) and a teacher key, of which only the SHA-256 is kept; every
teacher action checks the key, and a wrong key reads and deletes nothing. Drawings are the 28×28 input
the model sees, as uint8. Limits: ``MAX_PER_CLASS`` drawings per class, the class's own number per
student, ``RATE_N`` drawings per ``RATE_S`` seconds per student; classes untouched for a host's number
of days are removed with their drawings.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
import time
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, and_, delete, func, select, update

from core.store.schema import class_drawings, classes
from core.store.store import Store

MAX_NAME = 40
MAX_PER_CLASS = 3000
MAX_PER_DIGIT = 10  # drawings of each digit per student a teacher may ask for
RATE_N, RATE_S = 12, 30.0  # at most 12 drawings in 30 seconds per student: a human pace, not a script's
DEFAULT_CLASS_DAYS = 14.0
ID_LEN = 16


class ClassRefused(ValueError):
    """A class or a drawing the store will not take; the message says why in a student's words."""


@dataclass(frozen=True)
class ClassInfo:
    id: str
    name: str
    digits: tuple[int, ...]
    per_student: int
    created_at: float

    @property
    def per_student_total(self) -> int:
        return len(self.digits) * self.per_student


@dataclass(frozen=True)
class ClassSet:
    """Every drawing of a class, oldest first."""

    images: np.ndarray  # (N, 28, 28) uint8
    labels: np.ndarray  # (N,) int64
    students: tuple[str, ...]
    nicknames: tuple[str, ...]
    ids: np.ndarray  # (N,) int64


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def clean_name(raw: str, limit: int = MAX_NAME) -> str:
    """Up to ``limit`` characters, control characters dropped; shown literally wherever it appears."""
    return "".join(ch for ch in str(raw)[:10 * limit] if ch.isprintable()).strip()[:limit].strip()


def parse_digits(raw: str) -> tuple[int, ...]:
    digits = tuple(sorted({int(ch) for ch in str(raw)[:20] if ch in "0123456789"}))
    if not digits:
        raise ClassRefused("Pick at least one digit for the class to draw.")
    return digits


def create_class(store: Store, name: str, digits: str, per_student: int, now: float | None = None) -> tuple[ClassInfo, str]:
    """A new class and its teacher key (returned once: only its hash is stored)."""
    name = clean_name(name)
    if not name:
        raise ClassRefused("Give the class a name (up to 40 characters).")
    if not 1 <= int(per_student) <= MAX_PER_DIGIT:
        raise ClassRefused(f"Each student draws each digit 1 to {MAX_PER_DIGIT} times.")
    info = ClassInfo(secrets.token_hex(ID_LEN // 2), name, parse_digits(digits), int(per_student),
                     time.time() if now is None else now)
    key = secrets.token_urlsafe(24)
    store.write(lambda conn: conn.execute(classes.insert().values(
        id=info.id, name=info.name, digits="".join(map(str, info.digits)), per_student=info.per_student,
        key_hash=_hash(key), created_at=info.created_at, touched_at=info.created_at)))
    return info, key


def _row_info(row) -> ClassInfo:
    return ClassInfo(row.id, row.name, tuple(int(c) for c in row.digits), row.per_student, row.created_at)


def get_class(store: Store, class_id: str) -> ClassInfo | None:
    if not isinstance(class_id, str) or len(class_id) != ID_LEN or not all(c in "0123456789abcdef" for c in class_id):
        return None
    row = store.read(lambda conn: conn.execute(select(classes).where(classes.c.id == class_id)).first())
    return _row_info(row) if row else None


def teacher_class(store: Store, class_id: str, key: str) -> ClassInfo | None:
    """The class when ``key`` is its teacher key; None otherwise (the same answer for a missing class)."""
    if not isinstance(key, str) or not 8 <= len(key) <= 64:
        return None
    info = get_class(store, class_id)
    if info is None:
        return None
    stored = store.read(lambda conn: conn.execute(select(classes.c.key_hash).where(classes.c.id == class_id)).scalar())
    return info if stored and hmac.compare_digest(stored, _hash(key)) else None


def prompts(info: ClassInfo, student: str) -> list[int]:
    """This student's whole sequence of digits to draw: each digit ``per_student`` times, shuffled
    (seeded by class and student, so a reload asks for the same next digit)."""
    order = [d for d in info.digits for _ in range(info.per_student)]
    random.Random(f"{info.id}:{student}").shuffle(order)
    return order


def student_count(store: Store, class_id: str, student: str) -> int:
    c = class_drawings.c
    return int(store.read(lambda conn: conn.execute(select(func.count()).where(
        and_(c.class_id == class_id, c.student == student))).scalar()))


def add_drawing(store: Store, info: ClassInfo, student: str, nickname: str, label: int, image: np.ndarray,
                now: float | None = None) -> int:
    """Store one labelled (28, 28) drawing in [0, 1]; returns its id. Checks limits in the same transaction."""
    image = np.asarray(image, np.float32)
    if image.shape != (28, 28) or not np.isfinite(image).all() or label not in info.digits:
        raise ClassRefused("That drawing could not be stored: it is not a 28×28 digit of this class.")
    pixels = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8).tobytes()
    now = time.time() if now is None else now
    c = class_drawings.c

    def work(conn: Connection) -> int:
        count = lambda *where: int(conn.execute(select(func.count()).where(and_(*where))).scalar())  # noqa: E731
        if count(c.class_id == info.id) >= MAX_PER_CLASS:
            raise ClassRefused(f"This class has its {MAX_PER_CLASS} drawings: thank you, that is all it keeps.")
        if count(c.class_id == info.id, c.student == student) >= info.per_student_total:
            raise ClassRefused("You have drawn every digit this class asked for. Well done!")
        if count(c.class_id == info.id, c.student == student, c.created_at > now - RATE_S) >= RATE_N:
            raise ClassRefused("Slow down a little: take a few seconds over each drawing.")
        new_id = conn.execute(class_drawings.insert().values(
            class_id=info.id, student=student, nickname=clean_name(nickname), label=int(label), pixels=pixels,
            created_at=now)).inserted_primary_key[0]
        conn.execute(update(classes).where(classes.c.id == info.id).values(touched_at=now))
        return int(new_id)

    return store.write(work)


def class_set(store: Store, info: ClassInfo) -> ClassSet:
    c = class_drawings.c
    rows = store.read(lambda conn: conn.execute(select(c.id, c.student, c.nickname, c.label, c.pixels)
                                                .where(c.class_id == info.id).order_by(c.id)).all())
    images = np.stack([np.frombuffer(r.pixels, np.uint8).reshape(28, 28) for r in rows]) if rows \
        else np.zeros((0, 28, 28), np.uint8)
    return ClassSet(images, np.array([r.label for r in rows], np.int64), tuple(r.student for r in rows),
                    tuple(r.nickname for r in rows), np.array([r.id for r in rows], np.int64))


def delete_class(store: Store, class_id: str, key: str) -> bool:
    """Delete a class and its drawings, only with its teacher key; False (and nothing deleted) otherwise."""
    if teacher_class(store, class_id, key) is None:
        return False

    def work(conn: Connection) -> bool:
        conn.execute(delete(class_drawings).where(class_drawings.c.class_id == class_id))
        return conn.execute(delete(classes).where(classes.c.id == class_id)).rowcount > 0

    return store.write(work)


def expire_classes(store: Store, days: float, now: float | None = None) -> int:
    """Remove classes (and their drawings) untouched for longer than ``days``; returns how many."""
    cutoff = (time.time() if now is None else now) - days * 86400.0

    def work(conn: Connection) -> int:
        stale = select(classes.c.id).where(classes.c.touched_at < cutoff)
        conn.execute(delete(class_drawings).where(class_drawings.c.class_id.in_(stale)))
        return conn.execute(delete(classes).where(classes.c.touched_at < cutoff)).rowcount

    return store.write(work)
