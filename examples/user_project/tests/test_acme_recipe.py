"""ACME's CI: our recipe grades good and faulty cables the way we expect, on the virtual bench."""

from bench.store import load_results


def test_a_good_trunk_passes(line_bench, simulated_cables):
    simulated_cables.good("ACME-00001")
    result = line_bench.test("ACME-00001")
    assert result.verdict == "PASS"
    assert result.failing_fibers == []


def test_a_trunk_with_high_loss_fibers_fails_on_those_fibers(line_bench, simulated_cables):
    cable = simulated_cables.failing("ACME-00002")
    result = line_bench.test("ACME-00002")
    assert result.verdict == "FAIL"
    lossy = sorted(int(i) + 1 for i in (cable.insertion_loss_db[1310.0] > 0.75).nonzero()[0])
    assert result.failing_fibers == lossy


def test_a_type_a_cable_is_refused_by_our_type_b_recipe(line_bench, simulated_cables):
    simulated_cables.wrong_polarity("ACME-00003")
    result = line_bench.test("ACME-00003")
    assert result.verdict == "FAIL"
    assert "polarity A found, recipe requires B" in result.outcome.record.reason


def test_every_attempt_is_in_the_store(line_bench, simulated_cables, bench_store):
    simulated_cables.failing("ACME-00004")
    line_bench.test("ACME-00004")
    line_bench.test("ACME-00005")
    stored = load_results(bench_store)
    assert [str(s) for s in stored.cables["serial"]] == ["ACME-00004", "ACME-00005"]
    assert [str(o) for o in stored.cables["outcome"]] == ["FAIL", "PASS"]
    assert set(stored.cables["station_name"]) == {"acme-line-2"}


def test_our_station_file_is_what_the_bench_runs(bench_station_config, bench_recipe, virtual_bench):
    assert bench_station_config.name == "acme-line-2"
    assert bench_recipe.name == "ACME-MTP12-LL-B"
    assert all(address.startswith("TCPIP0::127.0.0.1::") for address in virtual_bench.addresses.values())
