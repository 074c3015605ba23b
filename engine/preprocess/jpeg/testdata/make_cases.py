"""Writes JPEG test cases into a folder and PIL's decoding of each next to it.

Usage: /usr/bin/python3 make_cases.py OUTDIR

Every case NAME.jpg gets NAME.raw (the bytes of numpy.asarray(Image.open(NAME.jpg)), the
pixels PIL hands to torchvision) and a line in OUTDIR/cases.tsv:
NAME<TAB>MODE<TAB>WIDTH<TAB>HEIGHT<TAB>HOW. Files are made by PIL itself and, for the
variants PIL's writer cannot produce (4:1:1, 4:4:0, odd sampling factors, restart markers,
custom progressive scans, RGB colour space), by libjpeg-turbo's cjpeg and jpegtran when
they are installed.
"""
import os
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

out = sys.argv[1]
skdata = "/usr/lib/python3/dist-packages/skimage/data"
cases = []


def photo(name, box=None):
    im = Image.open(os.path.join(skdata, name)).convert("RGB")
    return im.crop(box) if box else im


def noise(w, h, seed):
    rng = np.random.RandomState(seed)
    return Image.fromarray((rng.rand(h, w, 3) * 255).astype(np.uint8))


def add(name, how):
    cases.append((name, how))


def pil_save(name, im, **kw):
    im.save(os.path.join(out, name + ".jpg"), "JPEG", **kw)
    add(name, "PIL " + " ".join(f"{k}={v}" for k, v in sorted(kw.items())))


astro = photo("astronaut.png")
cat = photo("chelsea.png")
coffee = photo("coffee.png", (13, 7, 13 + 201, 7 + 133))  # odd size, off the 8x8 grid

# PIL's own writer: the three chroma subsamplings it offers, two qualities, odd sizes.
for q in (50, 95):
    for ss, ssname in ((0, "444"), (1, "422"), (2, "420")):
        pil_save(f"astro_{ssname}_q{q}", astro, quality=q, subsampling=ss)
        pil_save(f"coffee_{ssname}_q{q}", coffee, quality=q, subsampling=ss)
        pil_save(f"cat_{ssname}_q{q}_prog", cat, quality=q, subsampling=ss, progressive=True)
for w, h in ((1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 3), (33, 17), (17, 33), (9, 1), (1, 9)):
    src = cat.resize((w, h), Image.BILINEAR)
    for ss, ssname in ((0, "444"), (1, "422"), (2, "420")):
        pil_save(f"tiny{w}x{h}_{ssname}", src, quality=90, subsampling=ss)
    pil_save(f"tiny{w}x{h}_gray", src.convert("L"), quality=90)
pil_save("noise_444_q95", noise(64, 48, 1), quality=95, subsampling=0)
pil_save("noise_420_q50", noise(67, 45, 2), quality=50, subsampling=2)
pil_save("noise_420_q100", noise(40, 24, 3), quality=100, subsampling=2)
pil_save("astro_gray_q75", astro.convert("L"), quality=75)
pil_save("cat_gray_prog", cat.convert("L"), quality=85, progressive=True)
pil_save("astro_420_optimized", astro, quality=80, optimize=True)
pil_save("cat_cmyk_q90", cat.convert("CMYK"), quality=90)
pil_save("coffee_cmyk_q50_prog", coffee.convert("CMYK"), quality=50, progressive=True)
pil_save("noise_cmyk", noise(31, 29, 4).convert("CMYK"), quality=95)

# A seeded sweep over what PIL's writer offers: sizes 1..80 (noise blended with photo
# crops, so both smooth areas and extreme coefficients occur), qualities 1..100, the three
# subsamplings, progressive or not, Huffman optimization, gray and CMYK.
rng = np.random.RandomState(20261125)
for i in range(60):
    w, h = rng.randint(1, 81, size=2)
    x, y = rng.randint(0, 400), rng.randint(0, 300)
    im = Image.blend(cat.crop((x, y, x + w, y + h)), noise(w, h, 100 + i), float(rng.choice([0, 0.1, 0.5, 1])))
    mode = rng.choice(["RGB"] * 6 + ["L", "CMYK"])
    kw = dict(quality=int(rng.choice([1, 5, 25, 50, 75, 90, 98, 100])), progressive=bool(rng.rand() < 0.4),
              optimize=bool(rng.rand() < 0.3))
    if mode == "RGB":
        kw["subsampling"] = int(rng.randint(0, 3))
    pil_save(f"sweep{i:02d}_{w}x{h}_{mode}", im.convert(mode), **kw)

# rocket.jpg as shipped (4:4:4), and re-encoded.
shutil.copy(os.path.join(skdata, "rocket.jpg"), os.path.join(out, "rocket.jpg"))
add("rocket", "skimage rocket.jpg as shipped")

cjpeg, jpegtran = shutil.which("cjpeg"), shutil.which("jpegtran")
if cjpeg and jpegtran:
    ppm = os.path.join(out, "src.ppm")
    pgm = os.path.join(out, "src.pgm")
    coffee.save(ppm)
    coffee.convert("L").save(pgm)
    cat.crop((100, 50, 100 + 157, 50 + 99)).save(os.path.join(out, "cat.ppm"))

    def cj(name, *args, src=ppm):
        subprocess.check_call([cjpeg, *args, "-outfile", os.path.join(out, name + ".jpg"), src])
        add(name, "cjpeg " + " ".join(args))

    def jt(name, src, *args):
        subprocess.check_call([jpegtran, *args, "-outfile", os.path.join(out, name + ".jpg"), os.path.join(out, src + ".jpg")])
        add(name, f"jpegtran {' '.join(args)} of {src}")

    for sample in ("4x1,1x1,1x1", "1x2,1x1,1x1", "4x2,1x1,1x1", "2x1,1x1,1x1", "3x1,1x1,1x1",
                   "1x1,2x2,2x2", "2x2,1x1,1x2", "2x2,2x1,1x1", "2x1,1x1,2x1", "1x4,1x1,1x1",
                   "3x2,1x1,1x1", "2x1,1x2,1x1"):
        tag = sample.replace(",", "_")
        cj(f"sample_{tag}", "-quality", "85", "-sample", sample)
        cj(f"sample_{tag}_cat", "-quality", "60", "-sample", sample, src=os.path.join(out, "cat.ppm"))
    cj("restart_rows", "-quality", "80", "-restart", "1")
    cj("restart_blocks", "-quality", "80", "-restart", "3B", "-sample", "2x2,1x1,1x1")
    cj("restart_prog", "-quality", "80", "-restart", "2B", "-progressive")
    cj("restart_gray", "-quality", "70", "-restart", "5B", "-grayscale")
    cj("prog_420", "-quality", "90", "-progressive", "-sample", "2x2,1x1,1x1")
    cj("prog_411", "-quality", "90", "-progressive", "-sample", "4x1,1x1,1x1")
    cj("rgb_colorspace", "-quality", "90", "-rgb")
    cj("gray_pgm", "-quality", "90", src=pgm)
    cj("optimized_444", "-quality", "95", "-optimize", "-sample", "1x1,1x1,1x1")
    # A scan script with successive approximation on DC and AC, every coefficient sent.
    script = os.path.join(out, "scans.txt")
    with open(script, "w") as f:
        f.write("0,1,2: 0-0, 0, 2;\n0: 1-5, 0, 1;\n2: 1-63, 0, 0;\n1: 1-63, 0, 0;\n"
                "0: 6-63, 0, 1;\n0: 1-63, 1, 0;\n0,1,2: 0-0, 2, 1;\n0,1,2: 0-0, 1, 0;\n")
    cj("prog_script", "-quality", "90", "-scans", script)
    jt("jt_prog_of_astro420", "astro_420_q95", "-progressive")
    jt("jt_restart_of_cat", "cat_422_q50_prog", "-restart", "1")
    jt("jt_prog_of_cmyk", "cat_cmyk_q90", "-progressive")



# Byte-level variants of the files above, for the colour-space rules and table defaults
# libjpeg applies.
def segments(data):
    """Splits a JPEG into (marker, whole segment bytes) up to SOS, then the rest."""
    i, segs = 2, []
    while True:
        m = data[i + 1]
        n = int.from_bytes(data[i + 2:i + 4], "big")
        segs.append((m, data[i:i + 2 + n]))
        i += 2 + n
        if m == 0xDA:
            return segs, data[i:]


def rewrite(name, src, how, keep=lambda m, seg: True, insert=b""):
    data = open(os.path.join(out, src + ".jpg"), "rb").read()
    segs, rest = segments(data)
    body = b"".join(seg for m, seg in segs if keep(m, seg))
    with open(os.path.join(out, name + ".jpg"), "wb") as f:
        f.write(b"\xff\xd8" + insert + body + rest)
    add(name, how)


def adobe(transform):
    return b"\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00" + bytes([transform])


# 4 components with Adobe transform 2: libjpeg reads them as YCCK.
rewrite("ycck_from_cmyk", "cat_cmyk_q90", "CMYK file relabelled YCCK (Adobe transform 2)",
        keep=lambda m, seg: m != 0xEE, insert=adobe(2))
rewrite("cmyk_no_adobe", "coffee_cmyk_q50_prog", "CMYK file without its Adobe marker",
        keep=lambda m, seg: m != 0xEE)
# 3 components without JFIF: Adobe transform 0 means RGB, 1 means YCbCr; ids 1,2,3 YCbCr.
rewrite("adobe_rgb", "coffee_444_q95", "YCbCr data labelled RGB by Adobe transform 0, no JFIF",
        keep=lambda m, seg: m != 0xE0, insert=adobe(0))
rewrite("adobe_ycc", "coffee_420_q50", "Adobe transform 1, no JFIF",
        keep=lambda m, seg: m != 0xE0, insert=adobe(1))
rewrite("no_jfif", "coffee_422_q95", "no JFIF, component ids 1,2,3",
        keep=lambda m, seg: m != 0xE0)
rewrite("jfif_and_adobe_rgb", "coffee_444_q50", "JFIF and Adobe transform 0 both present",
        insert=adobe(0))


data = open(os.path.join(out, "coffee_444_q95.jpg"), "rb").read()
segs, rest = segments(data)
body = b""
for m, seg in segs:
    if m == 0xE0:
        continue
    if m in (0xC0, 0xDA):  # frame and scan headers name the components
        seg = bytearray(seg)
        first, step = (10, 3) if m == 0xC0 else (5, 2)
        for k, cid in enumerate(b"RGB"):
            seg[first + k * step] = cid
        seg = bytes(seg)
    body += seg
with open(os.path.join(out, "ids_rgb.jpg"), "wb") as f:
    f.write(b"\xff\xd8" + body + rest)
add("ids_rgb", "no JFIF or Adobe marker, component ids 'R','G','B'")
if cjpeg:
    # Motion-JPEG style: no DHT at all, the decoder must use the tables of annex K.
    rewrite("no_dht", "restart_rows", "cjpeg file with its DHT segments removed",
            keep=lambda m, seg: m != 0xC4)

# Damaged files PIL still decodes (libjpeg warns and recovers): restart markers lost,
# garbled or out of order, and coded data cut short by the EOI marker.
def damage(name, src, how, fn):
    data = open(os.path.join(out, src + ".jpg"), "rb").read()
    sos = data.index(b"\xff\xda")
    rst = [i for i in range(sos, len(data) - 1) if data[i] == 0xFF and 0xD0 <= data[i + 1] <= 0xD7]
    with open(os.path.join(out, name + ".jpg"), "wb") as f:
        f.write(fn(data, sos, rst))
    add(name, how)


if cjpeg:
    damage("rst_dropped", "restart_blocks", "restart_blocks without its 6th RST marker",
           lambda d, sos, rst: d[:rst[5]] + d[rst[5] + 2:])
    damage("rst_garbled", "restart_blocks", "restart_blocks with 10 bytes before its 8th RST overwritten",
           lambda d, sos, rst: d[:rst[7] - 10] + b"\x13" * 10 + d[rst[7]:])
    damage("rst_wrong", "restart_blocks", "restart_blocks with its 10th RST renumbered",
           lambda d, sos, rst: d[:rst[9] + 1] + bytes([0xD0 + ((d[rst[9] + 1] - 0xD0 + 3) & 7)]) + d[rst[9] + 2:])
damage("cut_then_eoi", "coffee_420_q95", "coded data cut at 60% and EOI appended",
       lambda d, sos, rst: d[:sos + (len(d) - sos) * 6 // 10] + b"\xff\xd9")
damage("cut_then_eoi_gray", "astro_gray_q75", "coded data cut at 30% and EOI appended",
       lambda d, sos, rst: d[:sos + (len(d) - sos) * 3 // 10] + b"\xff\xd9")

# The small fixtures kept in testdata/ (fuzz seeds, truncation tests) must decode right too.
here = os.path.dirname(os.path.abspath(__file__))
for f in sorted(os.listdir(here)):
    if f.endswith(".jpg"):
        shutil.copy(os.path.join(here, f), os.path.join(out, "fixture_" + f))
        add("fixture_" + f[:-4], "testdata/" + f)

# Decode everything with PIL.
with open(os.path.join(out, "cases.tsv"), "w") as f:
    for name, how in cases:
        im = Image.open(os.path.join(out, name + ".jpg"))
        a = np.asarray(im)
        a.tofile(os.path.join(out, name + ".raw"))
        f.write(f"{name}\t{im.mode}\t{im.width}\t{im.height}\t{how}\n")
