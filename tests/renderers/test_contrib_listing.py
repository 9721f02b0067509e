"""renderers/init_sql.CONTRIB_EXTENSIONS_BY_MAJOR against a recorded listing of PostgreSQL's own source.

tests/upstream/postgres_contrib_controls.txt lists every `*.control` file under contrib/ and src/pl/ at each
stable branch's branch point (its header says which commits and why not the minor tags). What the alpine image
makes of that tree (docker-library/postgres 16/alpine3.22/Dockerfile@3506774b36, the 16.11 image; the 14.20 image
at 7de0b51da5 and the 17.7 image at c02157db6a have the same lines): configured --with-openssl (pgcrypto,
sslinfo), --with-uuid=e2fs (uuid-ossp), --with-libxml (xml2), --with-perl/--with-python/--with-tcl, so every
conditional contrib directory of contrib/Makefile is built; `make install-world-bin; make -C contrib install`
installs all of them; then the run-time dependencies are `grep -v -e perl -e python -e tcl` (lines 158-165):
the languages and the transforms to them stay on disk but cannot load their library, so they are not offered.
plpgsql is always installed in every database.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from renderers.init_sql import CONTRIB_EXTENSIONS_BY_MAJOR

LISTING = Path(__file__).resolve().parent.parent / "upstream" / "postgres_contrib_controls.txt"
# The image drops libperl/libpython/libtcl (the Dockerfile's grep above): these names need one of them.
_NEEDS_A_DROPPED_RUNTIME = re.compile(r"pl(perl|python|tcl)")
ALWAYS_THERE = {"plpgsql"}


def _listing() -> tuple[dict[int, str], dict[int, set[str]]]:
    commits: dict[int, str] = {}
    controls: dict[int, set[str]] = {}
    for line in LISTING.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        if line.startswith("@ "):
            _, major, commit, version = line.split()
            assert version.startswith(major), line  # the branch point is that major's beta
            commits[int(major)] = commit
            continue
        major, path = line.split()
        assert path.startswith(("contrib/", "src/pl/")) and path.endswith(".control"), line
        controls.setdefault(int(major), set()).add(path)
    return commits, controls


def offered(paths: set[str]) -> frozenset[str]:
    """The extension names CREATE EXTENSION can install on the image, from the source's control files."""
    names = {Path(p).name.removesuffix(".control") for p in paths}
    return frozenset(n for n in names if not _NEEDS_A_DROPPED_RUNTIME.search(n)) - ALWAYS_THERE


def test_the_listing_covers_exactly_the_majors_the_program_knows() -> None:
    commits, controls = _listing()
    assert sorted(commits) == sorted(controls) == sorted(CONTRIB_EXTENSIONS_BY_MAJOR)
    assert all(re.fullmatch(r"[0-9a-f]{40}", c) for c in commits.values())


@pytest.mark.parametrize("major", sorted(CONTRIB_EXTENSIONS_BY_MAJOR))
def test_each_majors_list_is_its_source_trees_contrib(major: int) -> None:
    _, controls = _listing()
    source = offered(controls[major])
    listed = CONTRIB_EXTENSIONS_BY_MAJOR[major]
    assert (sorted(listed - source), sorted(source - listed)) == ([], []), (
        f"PostgreSQL {major}: (listed but not in the source, in the source but not listed)")


def test_the_rule_drops_the_languages_and_transforms_and_nothing_else() -> None:
    """The filter is what makes the comparison fair: it removes only names that need perl, python or tcl."""
    _, controls = _listing()
    for major, paths in controls.items():
        names = {Path(p).name.removesuffix(".control") for p in paths}
        dropped = names - offered(paths) - ALWAYS_THERE
        assert {"plperl", "plperlu", "plpython3u", "pltcl", "pltclu", "hstore_plperl", "jsonb_plpython3u"} <= dropped
        assert all(_NEEDS_A_DROPPED_RUNTIME.search(n) for n in dropped), (major, dropped)
        # Every contrib directory that is not a language transform holds an offered extension.
        assert {"uuid-ossp", "pgcrypto", "xml2", "sslinfo"} <= offered(paths)


def test_a_difference_is_seen() -> None:
    """The comparison fails on one name more or less (so the parametrized test above can fail)."""
    _, controls = _listing()
    assert offered(controls[16] | {"contrib/new_thing/new_thing.control"}) != CONTRIB_EXTENSIONS_BY_MAJOR[16]
    assert offered(controls[17] - {"contrib/amcheck/amcheck.control"}) != CONTRIB_EXTENSIONS_BY_MAJOR[17]
