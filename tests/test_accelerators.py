"""The accelerator catalog matches HW-FlowQ's table of accelerators; YAML errors are one clear line."""

from __future__ import annotations

import pytest

from hwflow.catalog import CatalogError, accelerator_names, load_accelerator
from hwflow.config import ConfigError
from hwflow.hw.area import accelerator_area
from hwflow.hw.spec import UnsupportedBitsError, check_bits

# HW-FlowQ (Fasfous et al., ACM TECS 2021), its table of accelerators:
# name: (rows, cols, sram KB, sram cost, array cost, rf filter/fmap/psum, rf cost)
PAPER_TABLE = {
    "spatial-168": (12, 14, 128, 6, 2, (224, 12, 16), 1),
    "spatial-256": (16, 16, 256, 13.84, 2, (224, 12, 16), 1),
    "spatial-1024": (32, 32, 3072, 155.35, 2, (224, 12, 16), 1),
    "eyeriss-1024": (32, 32, 3072, 155.35, 2, (224, 37, 16), 1),
    "eyeriss-256-db": (16, 16, 128, 7.41, 0, (192, 12, 16), 0.99),
}


def test_catalog_has_every_contract_name():
    assert set(accelerator_names()) == set(PAPER_TABLE) | {"bs-168", "bs-256", "bs-1024"}


@pytest.mark.parametrize("name", sorted(PAPER_TABLE))
def test_vectorized_entries_match_the_paper(name):
    rows, cols, kb, sram, array, rf, rf_cost = PAPER_TABLE[name]
    a = load_accelerator(name)
    assert (a.rows, a.cols) == (rows, cols)
    assert a.buffer.size_bytes == kb * 1024 and a.buffer.read_cost == sram
    assert a.array_cost == array and a.dram.read_cost == 200
    assert (a.rf.filter_words, a.rf.fmap_words, a.rf.psum_words) == rf
    assert a.rf.read_cost == rf_cost and a.word_bits == 16
    assert a.engine.kind == "vectorized" and a.engine.b_max == 16 and a.dataflow == "rs"


@pytest.mark.parametrize("size", [168, 256, 1024])
def test_bit_serial_variants_copy_spatial_with_16_lanes(size):
    bs, sp = load_accelerator(f"bs-{size}"), load_accelerator(f"spatial-{size}")
    assert bs.engine.kind == "bit-serial" and bs.engine.lanes == 16
    assert (bs.rows, bs.cols, bs.buffer, bs.rf) == (sp.rows, sp.cols, sp.buffer, sp.rf)
    assert bs.supported_bits == tuple(range(16, 0, -1))


def test_unknown_name_lists_valid_ones():
    with pytest.raises(CatalogError, match="unknown accelerator 'tpu'.*spatial-256"):
        load_accelerator("tpu")


def test_user_yaml_loads(tmp_path):
    text = open(load_accelerator("spatial-256").source).read()
    path = tmp_path / "mine.yaml"
    path.write_text(text.replace("rows: 16", "rows: 8").replace("name: spatial-256", "name: mine"))
    a = load_accelerator(str(path))
    assert a.name == "mine" and a.rows == 8 and a.cols == 16


@pytest.mark.parametrize("edit,message", [
    (("size_kb: 256", "size_kb: -1"), r"line {line} key 'memory.buffer.size_kb': Input should be greater than 0"),
    (("kind: vectorized", "kind: systolic"), r"key 'engine.kind': Input should be 'vectorized' or 'bit-serial'"),
    (("dataflow: rs", "dataflow: is"), r"key 'dataflow': Input should be 'rs', 'os' or 'ws'"),
    (("word_bits: 16", "word_bits: 16\nclock: 1"), r"key 'clock': unknown key; allowed here: name, description"),
    (("supported_bits: [16, 8, 6, 4, 2, 1]", "supported_bits: [32]"), r"supported_bits \[32\] outside 1..b_max=16"),
    (("array: {rows: 16, cols: 16}", "array: {rows: 16, cols: 16"), r"not valid YAML"),
])
def test_yaml_errors_name_file_key_and_line(tmp_path, edit, message):
    text = open(load_accelerator("spatial-256").source).read()
    assert edit[0] in text
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace(edit[0], edit[1]))
    line = next(i for i, row in enumerate(text.splitlines(), 1) if edit[0] in row)
    with pytest.raises(ConfigError, match=message.format(line=line)) as info:
        load_accelerator(str(path))
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_unsupported_bits_one_line():
    with pytest.raises(UnsupportedBitsError, match="layer conv2: w_bits=3 is not supported by spatial-256"):
        check_bits(load_accelerator("spatial-256"), 3, 3, "conv2")
    check_bits(load_accelerator("bs-256"), 3, 5, "conv2")  # bit-serial takes any pair


def test_area_grows_with_array_and_buffer():
    areas = [accelerator_area(load_accelerator(n)) for n in ("spatial-168", "spatial-256", "spatial-1024")]
    assert areas == sorted(areas)
    # Eyeriss-class scale: 168 PEs + 128 KB lands within 2x of the 12.25 mm² Eyeriss core
    assert 12.25 / 2 < areas[0] < 12.25 * 2


def test_duplicate_keys_are_refused(tmp_path):
    text = open(load_accelerator("spatial-256").source).read()
    path = tmp_path / "dup.yaml"
    path.write_text(text + "dataflow: os\n")
    line = len(text.splitlines()) + 1
    with pytest.raises(ConfigError, match=rf"line {line} key 'dataflow': given twice"):
        load_accelerator(str(path))


def test_shared_register_file_from_yaml(tmp_path):
    text = open(load_accelerator("eyeriss-256-db").source).read()
    path = tmp_path / "shared.yaml"
    path.write_text(text.replace("write_cost: 0.99}", "write_cost: 0.99, shared: true}"))
    shared = load_accelerator(str(path))
    assert shared.rf.shared and not load_accelerator("eyeriss-256-db").rf.shared
    assert shared.key() != load_accelerator("eyeriss-256-db").key()  # costs are cached apart
    from hwflow.config import accelerator_from_yaml, accelerator_yaml

    back = accelerator_from_yaml(accelerator_yaml(shared))
    assert back.key() == shared.key()


def test_rs_cuts_from_yaml_round_trips(tmp_path):
    from hwflow.config import accelerator_from_yaml, accelerator_yaml

    text = open(load_accelerator("spatial-168").source).read()
    path = tmp_path / "chip.yaml"
    path.write_text(text.replace("array: {rows: 12, cols: 14}",
                                 "array: {rows: 12, cols: 14, rs_cuts: false}"))
    chip = load_accelerator(str(path))
    assert not chip.rs_cuts and load_accelerator("spatial-168").rs_cuts
    assert chip.key() != load_accelerator("spatial-168").key()  # costs are cached apart
    assert accelerator_from_yaml(accelerator_yaml(chip)).key() == chip.key()
