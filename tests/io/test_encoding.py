import codecs

import pytest

from pipeline.errors import ShortshipError
from pipeline.io.encoding import detect_encoding, transcode_numbered


def write(tmp_path, name, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_gbk_is_read_as_gb18030(tmp_path):
    p = write(tmp_path, "a.csv", "订单编号,买家实际支付金额\n1,2\n".encode("gbk"))
    assert detect_encoding(p).name == "gb18030"


def test_utf8_and_bom(tmp_path):
    assert detect_encoding(write(tmp_path, "a.csv", "订单编号\n1\n".encode("utf-8"))).name == "utf-8"
    bom = write(tmp_path, "b.csv", codecs.BOM_UTF8 + "订单编号\n1\n".encode("utf-8"))
    assert detect_encoding(bom).label == "utf-8-bom"


def test_empty_binary_and_unknown(tmp_path):
    with pytest.raises(ShortshipError, match="empty"):
        detect_encoding(write(tmp_path, "e.csv", b"  \n"))
    with pytest.raises(ShortshipError, match="binary"):
        detect_encoding(write(tmp_path, "b.csv", b"a\x00b"))
    with pytest.raises(ShortshipError, match="unknown encoding"):
        detect_encoding(write(tmp_path, "u.csv", b"abc\xff\xfe\x81 \xff"))
    with pytest.raises(ShortshipError, match="xlsx"):
        detect_encoding(write(tmp_path, "x.csv", b"PK\x03\x04rest"))


def test_numbered_copy_keeps_quoted_newlines_in_one_record(tmp_path):
    src = write(tmp_path, "a.csv", 'h1,h2\r\n1,"x\r\ny"\r\n\r\n2,"a""b"\r\n3,z'.encode("gbk"))
    out = tmp_path / "out.csv"
    r = transcode_numbered(src, detect_encoding(src), out, skip_lines=1, delimiter=",")
    assert r.records == 3
    assert out.read_text(encoding="utf-8") == '2,1,"x\ny"\n5,2,"a""b"\n6,3,z\n'
    assert not r.unterminated_quote


def test_numbered_copy_reports_unterminated_quote(tmp_path):
    src = write(tmp_path, "a.csv", b'h\n1\n"2\n')
    r = transcode_numbered(src, detect_encoding(src), tmp_path / "o.csv", 1, ",")
    assert r.records == 2 and r.unterminated_quote


def test_numbered_copy_streams_across_chunks(tmp_path, monkeypatch):
    import pipeline.io.encoding as enc

    monkeypatch.setattr(enc, "CHUNK_CHARS", 7)
    body = "".join(f'{i},"v\n{i}"\n' for i in range(50))
    src = write(tmp_path, "a.csv", ("h,h2\n" + body).encode("gb18030"))
    out = tmp_path / "o.csv"
    r = transcode_numbered(src, detect_encoding(src), out, 1, ",")
    assert r.records == 50
    lines = out.read_text(encoding="utf-8").split("\n")
    assert lines[0] == '2,0,"v' and lines[2] == '4,1,"v'


def test_parallel_parts_number_exactly_like_the_sequential_copy(tmp_path, monkeypatch):
    import pipeline.io.encoding as enc

    monkeypatch.setattr(enc, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(enc, "RANGE_BYTES", 300)
    body = "".join(f'"{i}","多行\n备注{i}","x""y",\r\n' if i % 7 == 0 else f'"{i}","货品{i}","",\n' for i in range(400))
    body += "\n\n" + '"400","末行","z"'
    src = write(tmp_path, "a.csv", ("订单编号,标题,备注\n" + body).encode("gb18030"))
    e = detect_encoding(src)
    seq = tmp_path / "seq.csv"
    r1 = enc.transcode_numbered(src, e, seq, 1, ",")
    parts, r2 = enc.transcode_numbered_parts(src, e, tmp_path / "parts", 1, ",", workers=2)
    assert len(parts) > 3
    assert "".join(p.read_text(encoding="utf-8") for p in parts) == seq.read_text(encoding="utf-8")
    assert (r1.records, r1.last_line, r1.unterminated_quote) == (r2.records, r2.last_line, r2.unterminated_quote)
    assert r1.records == 401
