"""Reference for preprocess tests: real PIL + torchvision on real photos.

usage: torchvision_ref.py PHOTO_DIR OUT_DIR

Writes into OUT_DIR generated test images (CMYK / EXIF-rotated / subsampled JPEGs, paletted
GIF, 16-bit and RGBA PNGs, WebP, BMP, TIFF) made from the photos, then for every image a
manifest line in OUT_DIR/manifest.tsv:

    file  crop  resized_w  resized_h  resized.rgb  tensor.f32

resized.rgb is PIL's RGB after Resize(256) (uint8, packed), tensor.f32 the final
CenterCrop+ToTensor+Normalize tensor (float32 little endian, CHW).
"""
import io
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image, ImageOps
import torchvision.transforms as T

photo_dir, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)

PHOTOS = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png", "camera.png"]


def png16_rgb(path, arr):
    """Writes a 16-bit RGB PNG by hand (PIL cannot write one)."""
    h, w, _ = arr.shape
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind, data):
        c = kind + data
        return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw)))
        f.write(chunk(b"IEND", b""))


def exif_with_orientation(o):
    ex = Image.Exif()
    ex[0x0112] = o
    return ex.tobytes()


def offset_gif(path, transparency):
    """A GIF whose only frame covers part of the screen, at an offset: PIL fills the rest."""
    im = Image.fromarray(np.array([[0, 1, 2], [3, 0, 1]], dtype=np.uint8), "P")
    im.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9] + [0] * (252 * 3))
    b = io.BytesIO()
    if transparency is None:
        im.save(b, "GIF")
    else:
        im.save(b, "GIF", transparency=transparency)
    d = bytearray(b.getvalue())
    d[6:10] = struct.pack("<HH", 8, 6)  # logical screen 8x6
    d[11] = 2  # background colour index (PIL does not use it for the first frame)
    i = d.index(b"\x2c")
    d[i + 1:i + 5] = struct.pack("<HH", 2, 1)  # frame at (2, 1)
    with open(path, "wb") as f:
        f.write(bytes(d))


def generate():
    files = []
    cat = Image.open(os.path.join(photo_dir, "chelsea.png")).convert("RGB")  # 451x300
    astro = Image.open(os.path.join(photo_dir, "astronaut.png")).convert("RGB")
    coffee = Image.open(os.path.join(photo_dir, "coffee.png")).convert("RGB")
    gen = lambda name: (files.append(name), os.path.join(out, name))[1]

    cat.convert("CMYK").save(gen("cmyk.jpg"), quality=90)
    for o in range(1, 9):
        cat.save(gen("exif%d.jpg" % o), quality=90, exif=exif_with_orientation(o))
    cat.save(gen("exif6.png"), exif=exif_with_orientation(6))
    cat.save(gen("exif8-lossless.webp"), lossless=True, exif=exif_with_orientation(8))
    cat.save(gen("exif3.tiff"), exif=exif_with_orientation(3))
    cat.save(gen("s420.jpg"), quality=90, subsampling=2)
    cat.save(gen("s422.jpg"), quality=90, subsampling=1)
    cat.save(gen("s444.jpg"), quality=90, subsampling=0)
    coffee.crop((0, 0, 399, 301)).save(gen("odd420.jpg"), quality=85)  # odd sides, 4:2:0 edges
    astro.save(gen("progressive.jpg"), quality=80, progressive=True)
    Image.open(os.path.join(photo_dir, "camera.png")).save(gen("gray.jpg"), quality=90)
    cat.convert("P", palette=Image.ADAPTIVE, colors=200).save(gen("palette.gif"))
    cat.convert("P", palette=Image.ADAPTIVE, colors=64).save(gen("palette.png"))
    # Palette entries 0..9 fully transparent, 10..19 half: PIL's RGB keeps their colours.
    cat.convert("P", palette=Image.ADAPTIVE, colors=64).save(
        gen("palette-trns.png"), transparency=bytes([0] * 10 + [128] * 10))
    a = np.asarray(coffee).astype(np.uint16) * 257 + np.arange(coffee.width, dtype=np.uint16)[None, :, None] % 200
    png16_rgb(gen("rgb16.png"), a)
    g = (np.asarray(Image.open(os.path.join(photo_dir, "camera.png"))).astype(np.uint16) * 257)
    Image.fromarray(g.astype(np.uint16)).save(gen("gray16.png"))
    rgba = cat.copy()
    rgba.putalpha(Image.linear_gradient("L").resize(cat.size))
    rgba.save(gen("rgba.png"))
    cat.save(gen("lossy.webp"), quality=80)
    coffee.crop((0, 0, 401, 299)).save(gen("odd.webp"), quality=75)
    cat.save(gen("lossless.webp"), lossless=True)
    cat.save(gen("cat.bmp"))
    cat.save(gen("cat.tiff"))
    cat.save(gen("deflate.tiff"), compression="tiff_deflate")
    Image.new("RGB", (1, 1), (200, 30, 90)).save(gen("tiny.png"))
    offset_gif(gen("offset.gif"), None)
    offset_gif(gen("offset-transparent.gif"), 3)
    # Flat 16x16 colour blocks: every DCT block is constant, so any two correct IDCTs agree
    # exactly and what remains to compare is chroma upsampling and colour conversion.
    rng = np.random.default_rng(1)
    flat = np.kron(rng.integers(0, 256, (8, 13, 3)), np.ones((16, 16, 1))).astype(np.uint8)[:121, :203]
    for s in (0, 1, 2):
        Image.fromarray(flat).save(gen("flat%d.jpg" % s), quality=95, subsampling=s)
    return files


def reference(path, crop):
    im = Image.open(path)
    if im.format != "TIFF":
        # PIL's TIFF loader already turns the image upright by its Orientation tag (so
        # exif_transpose would turn it a second time); other formats need the call.
        im = ImageOps.exif_transpose(im)
    if im.mode in ("I", "I;16", "I;16B"):
        # PIL's convert("RGB") clips 16-bit gray at 255 (a white photo); AlexLens keeps the
        # high byte instead, the same reading PIL gives 16-bit RGB.
        im = Image.fromarray((np.asarray(im).astype(np.uint32) >> 8).astype(np.uint8))
    im = im.convert("RGB")
    resized = T.Resize(256)(im)
    t = T.Compose([
        T.CenterCrop(crop),
        T.ToTensor(),
        T.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
    ])(resized)
    return resized, t.numpy().astype("<f4")


def main():
    jobs = [(os.path.join(photo_dir, p), 224) for p in PHOTOS]
    jobs.append((os.path.join(photo_dir, "chelsea.png"), 227))
    jobs.append((os.path.join(photo_dir, "motorcycle_left.png"), 227))
    jobs += [(os.path.join(out, f), 224) for f in generate()]
    with open(os.path.join(out, "manifest.tsv"), "w") as m:
        for i, (path, crop) in enumerate(jobs):
            resized, t = reference(path, crop)
            rgb_name, f32_name = "ref%d.rgb" % i, "ref%d.f32" % i
            with open(os.path.join(out, rgb_name), "wb") as f:
                f.write(np.asarray(resized, dtype=np.uint8).tobytes())
            with open(os.path.join(out, f32_name), "wb") as f:
                f.write(t.tobytes())
            m.write("%s\t%d\t%d\t%d\t%s\t%s\n" % (path, crop, resized.width, resized.height, rgb_name, f32_name))


main()
