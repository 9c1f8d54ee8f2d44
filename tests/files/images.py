"""Test images made with Pillow: a JPEG carrying EXIF (GPS, camera, orientation), a PNG
with a text chunk, an animated GIF, an SVG with script."""

from __future__ import annotations

import io

from PIL import Image, PngImagePlugin

SVG_WITH_SCRIPT = (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg">'
                   b'<script>alert(document.cookie)</script></svg>')


def jpeg_with_exif(size: tuple[int, int] = (64, 48)) -> bytes:
    image = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x0110] = "Model 7"  # Model
    exif[0x0112] = 6  # orientation: rotate 90
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (48.0, 51.0, 29.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, comment=b"secret comment")
    return out.getvalue()


def png_with_text() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Doe, 12 Secret Lane")
    out = io.BytesIO()
    Image.new("RGBA", (20, 10), (0, 0, 255, 128)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (16, 16), color)
              for color in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0,
                   comment=b"gif comment")
    return out.getvalue()


def big_jpeg(width: int = 4000, height: int = 3000) -> bytes:
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def has_metadata(data: bytes) -> list[str]:
    """What metadata a stored image still carries (empty: none)."""
    found = []
    with Image.open(io.BytesIO(data)) as image:
        if image.getexif():
            found.append("exif")
        for key in ("comment", "Author", "xmp", "XML:com.adobe.xmp", "exif"):
            if key in image.info:
                found.append(key)
    for marker in (b"SpyCam", b"Secret Lane", b"secret comment", b"gif comment"):
        if marker in data:
            found.append(marker.decode())
    return found
