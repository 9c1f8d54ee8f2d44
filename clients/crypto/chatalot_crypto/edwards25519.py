"""Edwards25519 point arithmetic (RFC 8032 section 5.1), pure Python, variable time.

Used only on public data: strict decoding and order checks of received points, and the
Edwards-to-Montgomery map. Points are extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z,
x*y = T/Z.
"""

from __future__ import annotations

__all__ = [
    "BASE",
    "IDENTITY",
    "L",
    "P",
    "Point",
    "add",
    "decode",
    "decode_lenient",
    "double",
    "encode",
    "equal",
    "has_order_l",
    "is_identity",
    "is_small_order",
    "mul",
    "neg",
    "to_montgomery_u",
]

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
D2 = (2 * D) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)

Point = tuple[int, int, int, int]

IDENTITY: Point = (0, 1, 1, 0)


def _recover_x(y: int, sign: int) -> int | None:
    """x for y and the sign bit per RFC 8032 5.1.3, or None when there is none."""
    yy = y * y % P
    u = (yy - 1) % P
    v = (D * yy + 1) % P
    v3 = v * v % P * v % P
    x = u * v3 % P * pow(u * v3 % P * v3 % P * v % P, (P - 5) // 8, P) % P
    vxx = v * x % P * x % P
    if vxx != u:
        if vxx != (-u) % P:
            return None
        x = x * SQRT_M1 % P
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = P - x
    return x


def decode(data: bytes) -> Point | None:
    """Strict decoding (RFC 8032 5.1.3): None for y >= p, off-curve, or x = 0 with sign set."""
    if len(data) != 32:
        return None
    n = int.from_bytes(data, "little")
    y = n & ((1 << 255) - 1)
    if y >= P:
        return None
    x = _recover_x(y, n >> 255)
    if x is None:
        return None
    return (x, y, 1, x * y % P)


def decode_lenient(data: bytes) -> Point | None:
    """What lenient (ZIP 215 style) decoders do: y reduced mod p, x = 0 with sign set taken.

    Exists only so the tests can show that the crafted vectors pass a lenient verifier.
    """
    if len(data) != 32:
        return None
    n = int.from_bytes(data, "little")
    y = (n & ((1 << 255) - 1)) % P
    sign = n >> 255
    x = _recover_x(y, sign)
    if x is None:
        x = _recover_x(y, 0)
        if x != 0:
            return None
    return (x, y, 1, x * y % P)


def encode(p: Point) -> bytes:
    x, y, z, _ = p
    zi = pow(z, P - 2, P)
    x = x * zi % P
    y = y * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def add(p: Point, q: Point) -> Point:
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = t1 * D2 * t2 % P
    d = 2 * z1 * z2 % P
    e = b - a
    f = d - c
    g = d + c
    h = b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def double(p: Point) -> Point:
    x1, y1, z1, _ = p
    a = x1 * x1 % P
    b = y1 * y1 % P
    c = 2 * z1 * z1 % P
    h = a + b
    s = x1 + y1
    e = h - s * s % P
    g = a - b
    f = c + g
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def neg(p: Point) -> Point:
    x, y, z, t = p
    return ((-x) % P, y, z, (-t) % P)


def mul(n: int, p: Point) -> Point:
    """[n]p by double-and-add (n >= 0)."""
    q = IDENTITY
    while n:
        if n & 1:
            q = add(q, p)
        p = double(p)
        n >>= 1
    return q


def equal(p: Point, q: Point) -> bool:
    x1, y1, z1, _ = p
    x2, y2, z2, _ = q
    return (x1 * z2 - x2 * z1) % P == 0 and (y1 * z2 - y2 * z1) % P == 0


def is_identity(p: Point) -> bool:
    x, y, z, _ = p
    return x % P == 0 and (y - z) % P == 0


def is_small_order(p: Point) -> bool:
    """[8]p = identity: p lies in the torsion subgroup (identity included)."""
    return is_identity(double(double(double(p))))


def has_order_l(p: Point) -> bool:
    """[L]p = identity and p != identity: no small order and no torsion component."""
    return not is_identity(p) and is_identity(mul(L, p))


def to_montgomery_u(p: Point) -> int:
    """Montgomery u = (1 + y) / (1 - y) mod p of an Edwards point other than the identity."""
    _, y, z, _ = p
    # y = Y/Z: (Z + Y) / (Z - Y).
    return (z + y) * pow((z - y) % P, P - 2, P) % P


_BY = 4 * pow(5, P - 2, P) % P
_BX = _recover_x(_BY, 0)
assert _BX is not None
BASE: Point = (_BX, _BY, 1, _BX * _BY % P)
