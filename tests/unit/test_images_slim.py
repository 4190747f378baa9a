"""The slim base the app images build from (lab/images.py) and the database
image's two stages: what is left out, and what must stay."""
import re
from pathlib import Path

from lab import images

REPO = Path(__file__).resolve().parents[2]


def test_docs_man_pages_and_translations_are_left_out():
    for name in ("usr/share/man/man1/ls.1.gz", "./usr/share/doc/apt/changelog.gz",
                 "usr/share/locale/de/LC_MESSAGES/apt.mo", "usr/share/info/coreutils.info.gz"):
        assert images._slimmed(name), name


def test_copyright_notices_the_locale_aliases_and_the_rest_stay():
    for name in ("usr/share/doc/apt/copyright", "./usr/share/locale/locale.alias", "usr/bin/apt-get",
                 "usr/share/zoneinfo/UTC", "usr/lib/locale/C.utf8/LC_CTYPE", "usr/share/mandoc-not-man"):
        assert not images._slimmed(name), name


def test_later_packages_leave_the_same_folders_out():
    dpkg = images.SLIM_FILES["etc/dpkg/dpkg.cfg.d/lab-slim"].splitlines()
    for folder in images.SLIM_EXCLUDED:
        assert f"path-exclude /{folder}*" in dpkg
    assert "path-include /usr/share/doc/*/copyright" in dpkg
    assert 'APT::Install-Recommends "false";' in images.SLIM_FILES["etc/apt/apt.conf.d/lab-slim"]


def test_the_database_image_takes_postgresql_from_a_build_stage():
    text = (REPO / "compose" / "database" / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    assert len(stages) == 2
    assert "install -y --no-install-recommends postgresql-15" in stages[0]
    final = stages[1]
    # No Perl, no LLVM, no PostgreSQL package in the image itself: only its files.
    assert "postgresql-15" not in final and "perl" not in final and "llvm" not in final
    assert "COPY --from=packages /usr/lib/postgresql /usr/lib/postgresql" in final
    assert "not found" in final  # the build fails on a missing shared library
