"""Sessions: the trays of one scanning run, found in a folder or listed in a manifest CSV.

A **folder** session is searched recursively (in sorted order, hidden entries skipped) for

* Specim scan folders (a ``capture/`` folder holding ``NAME`` + ``DARKREF_NAME`` + ``WHITEREF_NAME``, or such a
  capture folder itself): one tray each, calibrated to reflectance when processed; nothing below them is searched;
* ENVI cubes (``*.hdr``; ENVI Classification and Spectral Library headers are not cubes and are skipped);
* HDF5 cubes (``*.h5``, ``*.hdf5``, ``*.he5``, ``*.nc`` holding a 3-D dataset; files holding only maps or feature
  arrays, such as hsimin's own outputs, are skipped);
* HyLogger TSG packages (a NIR-SWIR ``NAME.tsg`` with its ``NAME.bip``; thermal and mid-IR pairs, ``*_tir.tsg`` and
  ``*_mir.tsg``, are not classified): one job each, usually a whole hole, whose spectra carry their own depths.

Hole id, tray id and depths come from the header (``hole id``, ``tray id``, ``depth from m``, ``depth to m``: the
keys hsimin writes; for a TSG package its hole name, its own name as the tray id, and its spectra's depth range)
when it has them; otherwise the hole id is the name of the first sub-folder the tray lies in
(or of the session folder) and the tray id the file's stem (or the scan folder's name).

A **manifest** is a CSV file with a header row naming (case-insensitive, any order) ``hole_id``, ``tray_id``,
``path`` and optionally ``depth_from_m``, ``depth_to_m`` and ``stick_depths_m``::

    hole_id,tray_id,depth_from_m,depth_to_m,path
    DDH001,T01,100.0,101.5,scans/DDH001_T01.hdr
    DDH001,T02,101.5,103.0,/data/shed/2026-03-01/DDH001_T02

``path`` is absolute or relative to the manifest's folder. An empty depth is taken from the tray's header.
``stick_depths_m`` gives the depth range of each core stick of the tray, in reading order, as
``FROM-TO;FROM-TO;...`` (metres); it overrides the tray's range for depth registration
(:mod:`hsimin.batch.depth`). Blank lines and lines starting with ``#`` are ignored.

Hole and tray ids become folder and file names under the output folder. :func:`safe_name` turns any id into a
single, harmless path component (path separators, control characters and leading dots replaced), so no id from
a manifest or a header can place a file outside the output folder; :func:`output_dir_for` checks it again.
"""
from __future__ import annotations

import csv
import hashlib
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ..core.errors import ConfigError, HsiminError, OutputError

__all__ = ["HDF5_SUFFIXES", "RESERVED_HOLE_NAMES", "RESERVED_TRAY_STEMS", "Session", "TrayJob", "discover_session",
           "hole_dir_name", "input_files", "input_fingerprint", "output_dir_for", "parse_stick_depths",
           "read_manifest", "safe_name", "scan_folder"]

HDF5_SUFFIXES = (".h5", ".hdf5", ".he5", ".nc")
MANIFEST_SUFFIXES = (".csv", ".tsv", ".txt")
MAX_NAME_CHARS = 120

_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')
RESERVED_TRAY_STEMS = frozenset({"downhole_log", "mosaic"})
"""Names of a hole folder's session products: a tray whose safe id is one of these gets ``_tray`` appended."""
RESERVED_HOLE_NAMES = frozenset({"run.json", "report.html"})
"""Names of the output folder's own files: a hole whose safe id is one of these gets ``_hole`` appended."""

_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                     *(f"LPT{i}" for i in range(1, 10))}


# --------------------------------------------------------------------------------------------- names

def safe_name(name, what: str = "id") -> str:
    """A hole or tray id as one safe file-name component.

    Path separators (``/``, ``\\``), control characters (``\\n``, NUL, ...), format characters (bidi overrides,
    zero-width joiners) and the characters Windows forbids
    (``: * ? " < > |``) become ``_``; leading dots become ``_`` (so ``..`` and hidden names cannot occur);
    surrounding whitespace is dropped; Windows device names (``CON``, ``NUL``...) get a leading ``_``; a name
    longer than 120 characters is cut and given a short hash of the original, so distinct ids stay distinct.
    Raises :class:`ConfigError` for an empty id.
    """
    text = unicodedata.normalize("NFC", str(name)).strip()
    if not text:
        raise ConfigError(f"empty {what}: every tray needs a hole id and a tray id")
    safe = _UNSAFE.sub("_", text)
    # format characters too (U+202E right-to-left override, zero-width joiners): a file name must read as it is
    safe = "".join("_" if unicodedata.category(c) in ("Cf", "Zl", "Zp") else c for c in safe)
    stripped = safe.lstrip(".")
    safe = "_" * (len(safe) - len(stripped)) + stripped
    safe = safe.rstrip(" .") or "_"
    if safe.split(".")[0].upper() in _WINDOWS_RESERVED:
        safe = "_" + safe
    if len(safe) > MAX_NAME_CHARS:
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]
        safe = safe[:MAX_NAME_CHARS - 11] + "-" + digest
    return safe


def hole_dir_name(hole_id: str) -> str:
    """The folder name of a hole under the output folder: :func:`safe_name`, kept clear of ``run.json`` and
    ``report.html``."""
    name = safe_name(hole_id, "hole id")
    return name + "_hole" if name.lower() in RESERVED_HOLE_NAMES else name


def output_dir_for(out: str | os.PathLike, hole_id: str) -> Path:
    """``OUT/<safe hole id>``, checked to lie inside ``OUT`` (raises :class:`OutputError` otherwise)."""
    root = Path(out).resolve()
    target = (root / hole_dir_name(hole_id)).resolve()
    if target.parent != root:
        raise OutputError(f"hole id {hole_id!r} would write outside the output folder", path=root)
    return target


# --------------------------------------------------------------------------------------------- jobs

@dataclass(frozen=True)
class TrayJob:
    """One tray to process.

    Attributes
    ----------
    hole_id, tray_id : ids as given (manifest or header); :attr:`hole_dir` and :attr:`stem` are their safe forms
    path : absolute path of the tray: an ENVI header, an HDF5 file or a Specim scan folder
    depth_from_m, depth_to_m : depth range of the tray (None: take it from the header, or no depths)
    stick_depths_m : per-stick (from, to) ranges in reading order, or None
    index : position in the session (reports list trays in this order)
    """

    hole_id: str
    tray_id: str
    path: str
    depth_from_m: float | None = None
    depth_to_m: float | None = None
    stick_depths_m: tuple[tuple[float, float], ...] | None = None
    index: int = 0
    hole_dir: str = field(init=False)
    stem: str = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "hole_id", str(self.hole_id).strip())
        object.__setattr__(self, "tray_id", str(self.tray_id).strip())
        object.__setattr__(self, "hole_dir", hole_dir_name(self.hole_id))
        stem = safe_name(self.tray_id, "tray id")
        object.__setattr__(self, "stem", stem + "_tray" if stem.lower() in RESERVED_TRAY_STEMS else stem)
        for a, b in ((self.depth_from_m, self.depth_to_m),):
            if a is not None and b is not None and b < a:
                raise ConfigError(f"tray {self.hole_id}/{self.tray_id}: depth_to_m ({b:g}) is above "
                                  f"depth_from_m ({a:g})")
        if self.stick_depths_m is not None:
            object.__setattr__(self, "stick_depths_m", tuple((float(a), float(b)) for a, b in self.stick_depths_m))

    @property
    def key(self) -> str:
        """``hole/tray`` (safe names): unique within a session."""
        return f"{self.hole_dir}/{self.stem}"

    def to_dict(self) -> dict:
        return {"hole_id": self.hole_id, "tray_id": self.tray_id, "path": self.path,
                "depth_from_m": self.depth_from_m, "depth_to_m": self.depth_to_m,
                "stick_depths_m": None if self.stick_depths_m is None else [list(p) for p in self.stick_depths_m],
                "index": self.index, "output": self.key}


@dataclass(frozen=True)
class Session:
    """The trays of one scanning run, in session order (``source``: the folder or manifest they came from)."""

    source: str
    kind: str  # "folder" or "manifest"
    trays: tuple[TrayJob, ...]

    def __post_init__(self):
        trays = tuple(self.trays)
        seen: dict[str, TrayJob] = {}
        dups = []
        for t in trays:
            k = t.key.lower()  # case-insensitive filesystems would merge T01 and t01
            if k in seen:
                dups.append(f"{t.hole_id}/{t.tray_id} ({seen[k].path} and {t.path})")
            seen[k] = t
        if dups:
            hint = "" if self.kind == "manifest" else "; list the trays in a manifest CSV to give them distinct ids"
            raise ConfigError(f"the session holds the same hole/tray more than once: {'; '.join(dups[:5])}{hint}",
                              path=self.source)
        object.__setattr__(self, "trays", trays)

    def __len__(self) -> int:
        return len(self.trays)

    def holes(self) -> dict[str, list[TrayJob]]:
        """hole id -> its trays, in order of first appearance."""
        out: dict[str, list[TrayJob]] = {}
        for t in self.trays:
            out.setdefault(t.hole_id, []).append(t)
        return out


# --------------------------------------------------------------------------------------------- discovery

def discover_session(path: str | os.PathLike, *, exclude: Iterable[str | os.PathLike] = ()) -> Session:
    """The session at ``path``: a manifest CSV (a file) or a folder of trays searched recursively.

    ``exclude``: folders not to search (e.g. the output folder when it lies inside the session folder).
    Raises :class:`ConfigError` for a missing path, a bad manifest, duplicate trays or a folder without trays.
    """
    p = Path(path)
    if not p.exists():
        raise ConfigError("no such session folder or manifest", path=p)
    if p.is_dir():
        return scan_folder(p, exclude=exclude)
    return read_manifest(p)


def _number(value: str, what: str, where: str) -> float | None:
    v = (value or "").strip()
    if not v:
        return None
    try:
        x = float(v)
    except ValueError:
        raise ConfigError(f"{where}: {what} {v!r} is not a number") from None
    if x != x or x in (float("inf"), float("-inf")):
        raise ConfigError(f"{where}: {what} {v!r} is not a finite number")
    return x


_PAIR = re.compile(r"^\s*([+]?\d+(?:\.\d*)?|[+]?\.\d+)\s*[-:]\s*([+]?\d+(?:\.\d*)?|[+]?\.\d+)\s*$")


def parse_stick_depths(text: str, where: str = "stick_depths_m") -> tuple[tuple[float, float], ...] | None:
    """``'100.0-100.5;100.5-101.0'`` -> ((100.0, 100.5), (100.5, 101.0)); empty -> None.

    Each stick is ``FROM-TO`` (or ``FROM:TO``), metres, ``TO >= FROM``; sticks are separated by ``;`` or ``|``.
    """
    t = (text or "").strip()
    if not t:
        return None
    out = []
    for part in re.split(r"[;|]", t):
        if not part.strip():
            continue
        m = _PAIR.match(part)
        if not m:
            raise ConfigError(f"{where}: {part.strip()!r} is not FROM-TO in metres (e.g. 100.0-100.5)")
        a, b = float(m.group(1)), float(m.group(2))
        if b < a:
            raise ConfigError(f"{where}: stick {part.strip()!r} ends above where it starts")
        out.append((a, b))
    return tuple(out) or None


def read_manifest(path: str | os.PathLike) -> Session:
    """Read a manifest CSV (see the module docstring). Comma, semicolon or tab separated; UTF-8 (a BOM is fine).

    Raises :class:`ConfigError` naming the manifest and line for a missing column, an empty id, a depth that
    is not a number or a range that ends above its start. A ``path`` that does not exist is not an error here:
    that tray fails when processed and the rest of the session goes on.
    """
    from ..io.files import read_text_file
    p = Path(path)
    # a regular file of bounded size: a session given as /dev/zero or a FIFO must not read forever or hang
    text = read_text_file(p, what="the manifest", error=ConfigError, encoding="utf-8-sig")
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise ConfigError("the manifest is empty; want a header row hole_id,tray_id,depth_from_m,depth_to_m,path "
                          "and one row per tray", path=p)
    try:
        dialect = csv.Sniffer().sniff(lines[0], delimiters=",;\t")
        delim = dialect.delimiter
    except csv.Error:
        delim = ","
    rows = list(csv.reader(lines, delimiter=delim))
    header = [h.strip().lower().replace(" ", "_") for h in rows[0]]
    need = ("hole_id", "tray_id", "path")
    missing = [c for c in need if c not in header]
    if missing:
        raise ConfigError(f"the manifest's header row {','.join(rows[0])!r} lacks {', '.join(missing)}; want "
                          "hole_id,tray_id,depth_from_m,depth_to_m,path", path=p)
    col = {name: header.index(name) for name in header if name}
    base = p.resolve().parent
    trays = []
    for n, row in enumerate(rows[1:], start=2):
        where = f"{p}: row {n}"
        if len(row) > len(header) and any(c.strip() for c in row[len(header):]):
            raise ConfigError(f"{where}: {len(row)} fields for {len(header)} columns; quote values holding the "
                              f"separator {delim!r}")
        if len(row) < len(header):
            row = row + [""] * (len(header) - len(row))
        get = lambda name, row=row: row[col[name]].strip() if name in col else ""
        hole, tray, raw_path = get("hole_id"), get("tray_id"), get("path")
        if not hole or not tray:
            raise ConfigError(f"{where}: empty hole_id or tray_id")
        if not raw_path:
            raise ConfigError(f"{where}: empty path for tray {hole}/{tray}")
        tp = Path(os.path.expanduser(raw_path))
        tp = tp if tp.is_absolute() else base / tp
        d0 = _number(get("depth_from_m"), "depth_from_m", where)
        d1 = _number(get("depth_to_m"), "depth_to_m", where)
        if d0 is not None and d1 is not None and d1 < d0:
            raise ConfigError(f"{where}: depth_to_m {d1:g} is above depth_from_m {d0:g}")
        sticks = parse_stick_depths(get("stick_depths_m"), f"{where}: stick_depths_m")
        trays.append(TrayJob(hole, tray, str(Path(os.path.abspath(tp))), d0, d1, sticks, index=len(trays)))
    if not trays:
        raise ConfigError("the manifest lists no trays", path=p)
    return Session(str(p.resolve()), "manifest", tuple(trays))


def _specim_scan(d: Path) -> bool:
    from ..io.specim import sniff_specim
    try:
        return sniff_specim(d)
    except OSError:
        return False


def _envi_kind(hdr: Path) -> str | None:
    """'cube' for an ENVI cube header, None for classification / library headers or files that are not ENVI."""
    from ..io.envi_header import read_envi_header
    try:
        h = read_envi_header(hdr)
    except HsiminError:
        return "cube"  # a broken header is still somebody's tray: it fails when processed, with its error
    ftype = (h.text("file type") or "").lower()
    if "classification" in ftype or "spectral library" in ftype:
        return None
    return "cube"


def _tsg_nir(path: Path) -> bool:
    """True for the NIR-SWIR ``.tsg`` of a TSG package (thermal ``*_tir`` and mid-IR ``*_mir`` pairs are left
    out: hsimin classifies the SWIR)."""
    stem = path.stem.lower()
    return not stem.endswith(("_tir", "_mir"))


def _hdf5_has_cube(path: Path) -> bool:
    """True unless the file opens and holds no 3-D dataset (maps-only and feature files are skipped)."""
    import h5py
    try:
        with h5py.File(path, "r", locking=False) as f:
            found = []

            def visit(name, obj):
                if isinstance(obj, h5py.Dataset) and obj.ndim == 3 and not name.startswith("maps/"):
                    found.append(name)
                    return True
                return None

            f.visititems(visit)
            return bool(found)
    except OSError:
        return True  # unreadable: listed, and recorded as failed with the reader's message


def _header_ids(path: Path, kind: str) -> dict:
    """hole id, tray id and depths from a tray's header, where cheaply available (no data read)."""
    try:
        if kind == "tsg":
            import numpy as np

            from ..io.tsg import read_tsg_header
            h = read_tsg_header(path)
            holes = [x for x in h.samples["hole_id"] if x]
            depth = np.asarray(h.samples["depth_m"], np.float64)
            depth = depth[np.isfinite(depth)]
            db = h.sections.get("dbextra", {})
            return {"hole_id": holes[0] if holes else db.get("drillhole name") or None,
                    "tray_id": db.get("dataset name") or path.stem,
                    "depth_from_m": float(depth.min()) if depth.size else None,
                    "depth_to_m": float(depth.max()) if depth.size else None}
        if kind == "envi":
            from ..io.envi_header import read_envi_header
            h = read_envi_header(path)
        elif kind == "specim":
            from ..io.specim import find_specim_files
            from ..io.envi_header import read_envi_header
            h = read_envi_header(find_specim_files(path).raw)
        else:
            from ..io import open_cube
            m = open_cube(path).meta
            return {"hole_id": m.hole_id, "tray_id": m.tray_id, "depth_from_m": m.depth_from_m,
                    "depth_to_m": m.depth_to_m}
        out = {"hole_id": h.text("hole id"), "tray_id": h.text("tray id")}
        for key in ("depth from m", "depth to m"):
            try:
                out[key.replace(" ", "_")] = h.get_float(key)
            except HsiminError:
                out[key.replace(" ", "_")] = None
        return out
    except Exception:  # noqa: BLE001 - an unreadable header: names from the path; the tray fails later
        return {}


def scan_folder(folder: str | os.PathLike, *, exclude: Iterable[str | os.PathLike] = ()) -> Session:
    """Find the trays under ``folder`` (recursively; see the module docstring for what counts as a tray)."""
    root = Path(folder).resolve()
    skip = {Path(e).resolve() for e in exclude}
    found: list[tuple[Path, str]] = []

    def walk(d: Path):
        if d in skip:
            return
        if d != root and _specim_scan(d):
            found.append((d, "specim"))
            return
        if d == root and (d / "capture").is_dir() and _specim_scan(d):
            found.append((d, "specim"))
            return
        try:
            entries = sorted(d.iterdir(), key=lambda e: e.name)
        except OSError:
            return
        for e in entries:
            if e.name.startswith("."):
                continue
            if e.is_dir():
                walk(e)
            elif e.is_file():
                suf = e.suffix.lower()
                if suf == ".hdr" and not e.name.upper().startswith(("DARKREF_", "WHITEREF_", "WHITEDARKREF_")):
                    if _envi_kind(e) == "cube":
                        found.append((e, "envi"))
                elif suf in HDF5_SUFFIXES and _hdf5_has_cube(e):
                    found.append((e, "hdf5"))
                elif suf == ".tsg" and _tsg_nir(e):
                    found.append((e, "tsg"))

    walk(root)
    if not found:
        raise ConfigError("no trays found: the folder holds no ENVI cube (.hdr), HDF5 cube (.h5), Specim scan "
                          "folder (capture/ with DARKREF_ and WHITEREF_) or TSG package (.tsg + .bip); give a folder "
                          "of trays or a manifest CSV", path=root)
    trays = []
    for p, kind in found:
        ids = _header_ids(p, kind)
        rel = p.relative_to(root)
        hole = ids.get("hole_id") or (rel.parts[0] if len(rel.parts) > 1 else root.name)
        tray = ids.get("tray_id") or (p.name if kind == "specim" else p.stem)
        d0, d1 = ids.get("depth_from_m"), ids.get("depth_to_m")
        if d0 is not None and d1 is not None and d1 < d0:
            d0 = d1 = None
        trays.append(TrayJob(hole, tray, str(p), d0, d1, None, index=len(trays)))
    return Session(str(root), "folder", tuple(trays))


# --------------------------------------------------------------------------------------------- fingerprints

def input_files(path: str | os.PathLike) -> list[Path]:
    """The files a tray is read from: an ENVI header and its data file(s) (every sibling ``STEM.*``), an HDF5
    file, a TSG package's ``.tsg`` and ``.bip``, or every file of a Specim capture folder. Missing or unusable paths (permission denied, a name too long,
    a NUL byte) give an empty list: such a tray fails alone when processed, with the reader's error."""
    try:
        return _input_files(Path(path))
    except (OSError, ValueError):
        return []


def _input_files(p: Path) -> list[Path]:
    if p.is_dir():
        cap = p / "capture" if (p / "capture").is_dir() else p
        return sorted(f for f in cap.iterdir() if f.is_file() and not f.name.startswith("."))
    if not p.exists():
        return []
    if p.suffix.lower() == ".hdr":
        stem = p.name[:-4]
        sib = [f for f in p.parent.iterdir()
               if f.is_file() and f != p and (f.name == stem or f.name.startswith(stem + "."))
               and not f.name.lower().endswith(".hdr")]
        return [p, *sorted(sib)]
    if p.suffix.lower() == ".tsg":
        bip = [f for f in p.parent.iterdir() if f.is_file() and f.stem == p.stem and f.suffix.lower() == ".bip"]
        return [p, *sorted(bip)]
    return [p]


def input_fingerprint(path: str | os.PathLike) -> list[list]:
    """[[file, size, mtime_ns], ...] of :func:`input_files`: a changed, replaced or touched input changes it."""
    out = []
    for f in input_files(path):
        try:
            st = f.stat()
        except OSError:
            continue
        out.append([str(f), int(st.st_size), int(st.st_mtime_ns)])
    return out
