"""lab.bench's bookkeeping: image sizes as docker prints them, and the
previous bench's figures read back from docs/benchmarks.md."""
import pytest

from lab import bench


def test_docker_sizes_in_megabytes():
    assert bench.megabytes("146MB") == 146.0
    assert bench.megabytes("1.2GB") == 1200.0
    assert bench.megabytes("512kB") == pytest.approx(0.512)
    with pytest.raises(ValueError):
        bench.megabytes("many")


def test_the_previous_figures_come_back_from_the_written_section():
    now = {"warm": "38.0 s", "size_database": "146 MB"}
    text = "\n".join([bench.BEGIN, "# Benchmarks", f"<!-- figures: {'{'}\"warm\": \"38.0 s\", "
                      f"\"size_database\": \"146 MB\"{'}'} -->", bench.END, "", "# other lanes"])
    assert bench.previous_figures(text) == now
    assert bench.previous_figures("# no bench section yet") == {}


def test_every_figure_has_its_target_and_both_earlier_values():
    table = bench.figures_table({"warm": "38.0 s"}, {"warm": "89.0 s"})
    warm = next(line for line in table if line.startswith("| warm"))
    assert warm.split(" | ")[1:] == ["<= 40 s", "38.0 s", "89.0 s", "89 s |"]
    assert len(table) == 2 + len(bench.FIGURES)
