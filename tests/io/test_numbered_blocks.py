"""The transcoder's block path (RecordSplitter.write_numbered: blocks of plain lines checked and
numbered at once) writes exactly what the line path (feed) writes: the same records, numbers,
rejects and counts."""
import itertools
import random

import pytest

from pipeline.errors import ShortshipError
from pipeline.io import records as R


def by_lines(lines, d=",", fields=None):
    s = R.RecordSplitter(d, 0, fields)
    s.feed([R.MARK + x if "\x00" in x else x for x in lines])
    return s.take_output().encode("utf-8"), s.rejects, s.records, s.lineno


def by_blocks(lines, d=",", fields=None):
    s = R.RecordSplitter(d, 0, fields)
    out = []
    s.write_numbered("".join(x + "\n" for x in lines).encode("utf-8"), 0, out.append)
    return b"".join(out), s.rejects, s.records, s.lineno


def test_every_short_line_alone():
    """Every line of up to 6 characters over a, `"`, `,` and `=` (a block of one line)."""
    for n in range(0, 7):
        for chars in itertools.product('a",=', repeat=n):
            line = "".join(chars)
            assert by_blocks([line]) == by_lines([line]), line


def test_every_pair_of_short_lines():
    """Every two lines of up to 3 characters over a, `"`, `,` and `=` in one block: a line
    with too few quotes is never made up for by one with too many."""
    short = ["".join(c) for n in range(0, 4) for c in itertools.product('a",=', repeat=n)]
    for pair in itertools.product(short, repeat=2):
        assert by_blocks(pair) == by_lines(pair), pair


# pieces of lines near the plain form, where the block check must tell plain from not plain
_FIELDS = ['"a"', '="1"', '""', '=""', '","', '",="', '"a,b"', '"a,="', '"a""b"', '"a"b"', '"', 'a', '', '=',
           ' ', '="a"b', '"中文"', '"\u3000"', '"\x00"', '=a', '","="', '"\t"']


def _line(rng):
    if rng.random() < 0.3:  # a few characters that may or may not make a record
        return "".join(rng.choice('a",=') for _ in range(rng.randint(1, 6)))
    k = rng.randint(1, 4)
    line = ",".join(rng.choice(_FIELDS) for _ in range(k))
    if rng.random() < 0.3:
        line += ","
    if rng.random() < 0.1:
        line = rng.choice(["", " ", ",", "\u3000x", "\u00a0", "=", ' "a"', "中", "a"])
    return line


@pytest.mark.parametrize("block_bytes", [1, 24, 1 << 17])
def test_random_blocks(monkeypatch, block_bytes):
    """Random texts of such lines, cut into blocks of several sizes: plain lines around odd
    ones (a surplus of quotes in one line must not hide a want of them in another), records
    spanning lines and blocks, and refused lines read again."""
    monkeypatch.setattr(R, "BLOCK_BYTES", block_bytes)
    rng = random.Random(21)
    plain = ['="1","a","b"', '"x","y",', '="2","",="3"', "4,b,c"]
    for _ in range(1500):
        lines = [rng.choice(plain) if rng.random() < 0.5 else _line(rng) for _ in range(rng.randint(1, 8))]
        assert by_blocks(lines, fields={3, 4}) == by_lines(lines, fields={3, 4}), lines


def test_plain_blocks_take_the_bulk_path(monkeypatch):
    """The real forms (formulas first and in the middle, a trailing delimiter, no quotes at
    all, a tab) are found plain, so numbered as blocks, not line by line."""
    seen = []
    check = R._plain_lines

    def spy(*args):
        done = check(*args)
        seen.extend(done[-1].tolist())
        return done

    monkeypatch.setattr(R, "_plain_lines", spy)
    for lines, d in [(['="35153131473293579","buyer1","201.12","",="","否"'] * 3, ","),
                     (['="35153131473293579","雪平锅","239.00","1",'] * 3, ","),
                     (["9999300000000001,TV-55,1,2017-05-01 08:18:45"] * 3, ","),
                     (['"1"\t"a"', '"2"\t"b"'], "\t")]:
        seen.clear()
        assert by_blocks(lines, d) == by_lines(lines, d)
        assert seen == [True] * len(lines), lines
    # among odd lines, the plain ones still are; after a record of two lines, the lines after
    # it are sorted again
    seen.clear()
    lines = ['="1","a"', '"2","b""c"', '3,"d', 'e",f', '="4","g"', " ", '="5","h"']
    assert by_blocks(lines) == by_lines(lines)
    assert seen == [True, False, False, False, True, False, True] + [True, False, True]


def _export(n=3000):
    rows = []
    for i in range(n):
        if i % 7 == 0:
            rows.append(f'="{i}","多行\r\n备注{i}","x""y",\r\n')
        elif i % 53 == 0:
            rows.append(f'"{i}","坏"引号","z",\n')
        elif i % 61 == 0:
            rows.append(f'"{i}","未闭合,"",\n')
        elif i % 67 == 0:
            rows.append(f'"{i}","\x00","z",\n')
        else:
            rows.append(f'="{i}","货品{i}",="",\n')
    return "订单编号,标题,备注\n" + "".join(rows) + "\n\n" + '"400","末行","z"'


@pytest.mark.parametrize("codec", ["gb18030", "utf-8", "utf-8-sig"])
def test_a_file_transcoded_whole_equals_the_streamed_copy(tmp_path, monkeypatch, codec):
    """transcode_numbered_parts on a file below PARALLEL_MIN_BYTES but at least WHOLE_MIN_BYTES:
    one range in this process, numbered in blocks; the same copy and counts as the stream."""
    from pipeline.io import encoding as enc

    monkeypatch.setattr(R, "BLOCK_BYTES", 512)
    monkeypatch.setattr(enc, "PIECE_BYTES", 1000)
    src = tmp_path / "a.csv"
    src.write_bytes(_export().encode(codec))
    e = enc.detect_encoding(src)
    streamed = enc.transcode_numbered(src, e, tmp_path / "s.csv", 1, ",", fields={3, 4})
    monkeypatch.setattr(enc, "WHOLE_MIN_BYTES", 1)
    parts, whole = enc.transcode_numbered_parts(src, e, tmp_path / "parts", 1, ",", fields={3, 4})
    assert len(parts) == 1 and parts[0].read_bytes() == (tmp_path / "s.csv").read_bytes()
    assert whole == streamed and streamed.rejects and streamed.records == 3001
    # a byte that is not text: the same line named as by the stream
    src.write_bytes(_export().encode(codec).replace("货品2000".encode(codec.replace("-sig", "")), b"\xff\xfe"))
    with pytest.raises(ShortshipError) as streamed_error:
        enc.transcode_numbered(src, e, tmp_path / "s.csv", 1, ",", fields={3, 4})
    with pytest.raises(ShortshipError) as whole_error:
        enc.transcode_numbered_parts(src, e, tmp_path / "parts", 1, ",", fields={3, 4})
    assert str(whole_error.value) == str(streamed_error.value)
