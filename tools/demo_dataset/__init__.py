"""Rebuild a small, openly licensed set of colour photographs from Debian packages.

The set is meant for training and checking a small demo colorizer. Nearly
everything comes from packages in the Debian archive, so anyone with `apt-get`
can rebuild exactly the same files, and each file's licence is the one stated in
the package's own `/usr/share/doc/<package>/copyright` file; the sample photos
of two Python packages (scikit-learn, scikit-image) are added when installed.

Usage:
    python tools/make_demo_dataset.py OUTDIR [--debs DIR] [--heldout-percent 10]
                                      [--max-short-side 512]
                                      [--accept-opencv-catch-all]
                                      [--accept-tuxtype-commons]

for example `python tools/make_demo_dataset.py ~/demo_data --debs ~/debs` (a few
minutes and about 370 MB of downloads; OUTDIR gets about 36 MB at the default
--max-short-side 512).

Never taken, whatever else changes here: mate-backgrounds, darknet,
enlightenment-data and lomiri-wallpapers-20.04 (RESERVED_PACKAGES). Their photos
are kept apart for an independent evaluation of models trained on this set.

Needs `apt-get` and `dpkg` (any Debian or Ubuntu system) plus numpy and Pillow
(with WebP support). The optional `zstandard` module lets it read Qt resources
compressed with zstd; without it such entries are skipped and counted.

Sources (the .deb files are fetched with `apt-get download` into a temporary
folder, or into --debs DIR, where a package_*.deb already there is reused; each
is unpacked with `dpkg -x` into a temporary folder):

    gcompris-qt-data          photos inside the Qt resource files
                              /usr/share/gcompris-qt/rcc/<activity>.rcc of the
                              activities categorization, explore_monuments,
                              explore_world_animals, explore_farm_animals,
                              explore_world_music, erase and clickgame. The .rcc
                              files are parsed here (see `parse_rcc`).
    tuxpaint-data             the photo templates in /usr/share/tuxpaint/templates.
    lomiri-wallpapers-16.04   the wallpapers in /usr/share/backgrounds.
    opencv-doc                sample images in /usr/share/doc/opencv-doc/examples,
                              but only those that a specific paragraph of the
                              copyright file covers: the sample photos are only
                              covered by the catch-all "Files: *" paragraph meant
                              for OpenCV's own code, many are third-party test
                              images of unclear origin (Debian already strips the
                              "Lena" image for licence reasons), so they are
                              dropped ("licence unclear") unless
                              --accept-opencv-catch-all is given.
    scratch                   the photo backgrounds in
                              /usr/share/scratch/Media/Backgrounds (CC-BY-SA-3.0,
                              paragraph "Media/*"), less the drawings listed in
                              SCRATCH_DRAWINGS; the costumes are cut-outs.
    kphotoalbum               the demo photos /usr/share/kphotoalbum/demo/*.jpg (not
                              CategoryImages/), turned by the "angle" that the
                              demo's index.xml gives. The copyright file is not
                              machine-readable: its single licence, GPL-2+, is
                              written here (KPHOTOALBUM_LICENCE, "explicit").
    tuxtype-data              photos in /usr/share/tuxtype/images (kcas*.jpg,
                              hidden.jpg, backgrounds/*.jpg; images/cities/ holds
                              drawn sprites only). The package's README_IMAGES.TXT
                              calls them Wikimedia Commons featured pictures,
                              with no author or licence per file, so they are
                              dropped ("licence unclear") unless
                              --accept-tuxtype-commons is given.
    plasma-workspace-wallpapers
                              the wallpapers in PLASMA_PHOTOS (the photos among
                              the renders), one image each: the largest in
                              <wallpaper>/contents/images. Copyright file: GPL-2+
                              ("Files: *"); each metadata.json names the author
                              and another licence (mostly LGPLv3), recorded as
                              upstream_*.
    lxqt-themes               the photos in /usr/share/lxqt/wallpapers listed in
                              LXQT_PHOTOS (those credited to one photographer in
                              wallpapers/License). Copyright file: LGPL-2.1+
                              ("Files: *"); wallpapers/License says CC-BY-SA-3.0,
                              recorded as upstream_*.
    palapeli-data             the puzzle photos in /usr/share/palapeli/collection.
                              Copyright file: GPL-2+ ("Files: *"); each puzzle's
                              .desktop file names the author, source page and
                              licence (public domain, GFDL), recorded as upstream_*.
    libjxl-testdata           the three CC0 photos external/wesaturate/500px/
                              *_srgb8.png (the rest are 64 px crops and grey or
                              alpha variants of these).
    puzzle-jigsaw             /usr/share/puzzle-jigsaw/samples (CC0-1.0).

Sources that are installed Python packages (read where Python imports them
from; a package that is not installed is skipped with a warning). Their
licences are written here ("explicit", with a note saying where they are
stated):

    scikit-learn              china.jpg and flower.jpg in sklearn/datasets/images
                              (CC-BY-2.0 per the README.txt there, copied to
                              licenses/scikit-learn.README.txt).
    scikit-image              the public-domain and CC0 colour photos in
                              skimage/data (SKIMAGE_PHOTOS; licences from the
                              docstrings of the skimage.data functions).

The allow-lists and exclude lists (SCRATCH_DRAWINGS, PLASMA_PHOTOS, LXQT_PHOTOS,
the `only` patterns in `package_specs`) were checked by eye on contact sheets;
the files they leave out are in dropped.csv with the reason.

Licences: the copyright file (machine-readable DEP-5 format) is parsed and the
last "Files:" paragraph whose pattern matches the file's path in the upstream
source tree gives the licence. GCompris converts its photos to .webp at build
time while the copyright file still names the original .jpg/.png, so for it the
original extensions are tried too; `licence_match` in the manifest tells whether
the licence came from a paragraph naming the file ("file"), from one naming its
original before the .webp conversion ("file-before-webp"), from a directory
pattern ("pattern"), only from the catch-all "Files: *" ("catch-all"), or is
written in this script ("explicit", explained in `licence_note`). For GCompris
the upstream README next to the photos (shipped in the same .rcc) is read too
and its licence, author and source URL are recorded as `upstream_*`, as are
those that Plasma, LXQt and Palapeli state next to their photos; they often
differ from the copyright file (which for GCompris still describes older photos
for many of these files), so check both before redistributing.

Photo filter (documented thresholds, see `PhotoFilter`): an image is kept only if

    * it is a raster image that Pillow decodes (an SVG is a drawing by construction);
    * it is not a cut-out: no more than 1% of its pixels are (partly) transparent;
    * its short side is at least 128 px;
    * it is colourful: the Hasler-Suesstrunk colourfulness M is at least 12
      (grey images score 0; M < 15 is "not colourful" in their scale);
    * it does not look like a drawing or a synthetic image. On a copy whose long
      side is at most 256 px:
        - `unique`, the number of distinct colours (5 bits per channel) in a
          64x64 copy divided by 4096, is at least 0.025 (line drawings, logos);
        - `top8`, the share of pixels taken by the 8 most frequent exact
          colours, is below 0.85 (flat-colour drawings, diagrams, and product
          shots that are mostly an empty white background);
        - `edges`, the fraction of pixels where a neighbour differs by more
          than 24 levels in some channel, is between 0.005 (below: smooth
          computer-made gradients, abstract wallpapers) and 0.90 (above:
          synthetic noise patterns).
      Drawings with smooth shading (3-D renders, gradient-filled cartoons) are
      not reliably caught by these statistics; none is left in the default
      sources (checked by eye on contact sheets), but they are among the
      opencv-doc samples that --accept-opencv-catch-all would add.

Output, in OUTDIR (earlier *.jpg files in train/ and heldout/ are removed first):

    train/*.jpg, heldout/*.jpg   RGB JPEG, quality 95, short side at most
                                 --max-short-side (512) px (never upscaled), named
                                 <source>-<activity or folder>-<name>.jpg
    manifest.csv                 one row per kept image: path, split, subject,
                                 package, version, original_path (in the
                                 package), resource_path (in the .rcc), licence,
                                 licence_match and copyright (from the copyright
                                 file), upstream_licence, upstream_copyright,
                                 upstream_source (what upstream states next to
                                 the photo), licence_note, width, height
    dropped.csv                  every image file not kept, with the reason and
                                 the filter statistics
    licenses/<package>.copyright the copyright files the licences come from (and
                                 licenses/scikit-learn.README.txt)

Held-out split: about --heldout-percent (10) percent of the SUBJECTS go to
heldout/. The subject of an image is its file name without extension, without a
"_by_<author>" suffix, lower-cased, with digits and non-letters removed (so
bear1.jpg, bear2.jpg and Bear.webp in any folder or package share the subject
"bear"; a Plasma wallpaper's subject is its name, not that of its image file,
which is its size). Subjects where one is a prefix (of at least 5 letters) of the other
("greatpyramid" / "greatpyramidofgiza") or that are listed in SUBJECT_ALIASES
(spelling variants) are merged; merging is conservative (it may join unrelated
subjects such as "dragon" and "dragonfly", which only coarsens the split). A
subject is held out when the first 8 hex digits of sha256("deepkoala-demo:" +
subject), as an integer, modulo 1000 are below 10 * percent, which is
deterministic and never splits a subject. The subjects of the repository's
example photos (EXAMPLE_SUBJECTS: astronaut, chelsea, coffee, rocket) are always
held out, so the examples show photos no preset saw. Because subjects differ in size (27
fish photos share the subject "fish"), the held-out share of IMAGES can differ
from the share of subjects; the script prints both.
"""
