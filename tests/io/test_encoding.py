import codecs

import pytest

from pipeline.errors import ShortshipError
from pipeline.io import encoding as enc
from pipeline.io.encoding import detect_encoding, transcode_numbered
from pipeline.io.errors import NotAnExport


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
    with pytest.raises(NotAnExport, match="empty"):
        detect_encoding(write(tmp_path, "e.csv", b"  \n"))
    with pytest.raises(NotAnExport, match="binary"):
        detect_encoding(write(tmp_path, "b.csv", bytes(range(256)) * 4))
    with pytest.raises(NotAnExport, match="unknown encoding"):
        detect_encoding(write(tmp_path, "u.csv", b"abc\xff\xfe\x81 \xff"))
    with pytest.raises(NotAnExport, match="xlsx"):
        detect_encoding(write(tmp_path, "x.csv", b"PK\x03\x04rest"))
    with pytest.raises(NotAnExport, match="PNG"):
        detect_encoding(write(tmp_path, "p.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
    with pytest.raises(NotAnExport, match="UTF-16 text without a byte-order mark"):
        detect_encoding(write(tmp_path, "w.csv", "order_id,shipped_at\n1,2\n".encode("utf-16-le")))


def test_a_nul_byte_in_a_row_is_not_a_binary_file(tmp_path):
    p = write(tmp_path, "n.csv", "订单编号,买家实付金额\n1,2\n2,\x003\n".encode("utf-8"))
    assert detect_encoding(p).name == "utf-8"
    r = transcode_numbered(p, detect_encoding(p), tmp_path / "o.csv", 1, ",")
    assert (r.records, r.written) == (2, 1)
    assert r.rejects == [(3, "NUL byte in the row (binary data in a text export)")]


def test_utf8_turning_into_gbk_names_the_line(tmp_path):
    body = "".join(f"{i},订单{i}\n" for i in range(1, 40)).encode("utf-8") + "40,订单四十\n".encode("gbk")
    p = write(tmp_path, "m.csv", "订单编号,标题\n".encode("utf-8") + body)
    with pytest.raises(ShortshipError, match=r"not valid utf-8 text at line 41 .*encoding changes"):
        detect_encoding(p)


def test_encoding_error_beyond_the_sample_names_its_line_serial_and_parallel(tmp_path, monkeypatch):
    lines = [f"{i},订单{i:05d},{'x' * 60}\n" for i in range(1, 20000)]
    lines[15000] = "15001,订单\n".encode("utf-8").decode("utf-8")  # placeholder, replaced in bytes below
    data = "订单编号,标题,备注\n".encode("utf-8") + b"".join(
        (s.encode("gbk") if i == 15000 else s.encode("utf-8")) for i, s in enumerate(lines))
    p = write(tmp_path, "deep.csv", data)
    assert len(data) > enc.SAMPLE_BYTES
    e = detect_encoding(p)
    assert e.name == "utf-8"
    with pytest.raises(ShortshipError, match="at line 15002 "):
        transcode_numbered(p, e, tmp_path / "o.csv", 1, ",")
    monkeypatch.setattr(enc, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(enc, "RANGE_BYTES", 100_000)
    with pytest.raises(ShortshipError, match="at line 15002 "):
        enc.transcode_numbered_parts(p, e, tmp_path / "parts", 1, ",", workers=2)


def test_numbered_copy_keeps_quoted_newlines_in_one_record(tmp_path):
    src = write(tmp_path, "a.csv", 'h1,h2\r\n1,"x\r\ny"\r\n\r\n2,"a""b"\r\n3,z'.encode("gbk"))
    out = tmp_path / "out.csv"
    r = transcode_numbered(src, detect_encoding(src), out, skip_lines=1, delimiter=",")
    assert (r.records, r.written, r.rejects) == (3, 3, [])
    assert out.read_text(encoding="utf-8") == '2,1,"x\ny"\n5,2,"a""b"\n6,3,z\n'


def test_cr_only_line_ends_are_lines(tmp_path):
    src = write(tmp_path, "a.csv", 'h1,h2\r1,"x\ry"\r2,b\r'.encode("gbk"))
    out = tmp_path / "out.csv"
    r = transcode_numbered(src, detect_encoding(src), out, skip_lines=1, delimiter=",")
    assert out.read_text(encoding="utf-8") == '2,1,"x\ny"\n4,2,b\n'
    assert r.last_line == 4


def test_an_unclosed_quote_costs_its_own_line_only(tmp_path):
    src = write(tmp_path, "a.csv", b'h,h2\n1,a\n"2,b\n3,c\n4,d\n')
    out = tmp_path / "o.csv"
    r = transcode_numbered(src, detect_encoding(src), out, 1, ",", fields={2})
    assert (r.records, r.written) == (4, 3)
    assert r.rejects == [(3, "unclosed quote")]
    assert out.read_text(encoding="utf-8") == "2,1,a\n4,3,c\n5,4,d\n"


def test_numbered_copy_streams_across_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(enc, "CHUNK_BYTES", 7)
    body = "".join(f'{i},"v\n{i}"\n' for i in range(50))
    src = write(tmp_path, "a.csv", ("h,h2\n" + body).encode("gb18030"))
    out = tmp_path / "o.csv"
    r = transcode_numbered(src, detect_encoding(src), out, 1, ",", fields={2})
    assert r.records == 50 and not r.rejects
    lines = out.read_text(encoding="utf-8").split("\n")
    assert lines[0] == '2,0,"v' and lines[2] == '4,1,"v'


def test_crlf_cut_between_chunks_is_one_line_end(tmp_path, monkeypatch):
    monkeypatch.setattr(enc, "CHUNK_BYTES", 4)  # "h,x\r" | "\n1,a\r" ...
    src = write(tmp_path, "a.csv", b"h,x\r\n1,a\r\n2,b\r\n")
    out = tmp_path / "o.csv"
    r = transcode_numbered(src, detect_encoding(src), out, 1, ",")
    assert out.read_text(encoding="utf-8") == "2,1,a\n3,2,b\n" and r.last_line == 3


def _body(n=400):
    rows = []
    for i in range(n):
        if i % 7 == 0:
            rows.append(f'"{i}","多行\n备注{i}","x""y",\r\n')
        elif i % 53 == 0:
            rows.append(f'"{i}","坏"引号","z",\n')  # broken quoting: refused at its line
        elif i % 61 == 0:
            rows.append(f'"{i}","未闭合,"",\n')  # a quote that never closes
        else:
            rows.append(f'"{i}","货品{i}","",\n')
    return "".join(rows) + "\n\n" + '"400","末行","z"'


@pytest.mark.parametrize("range_bytes", [300, 1000, 4096])
def test_parallel_parts_number_exactly_like_the_sequential_copy(tmp_path, monkeypatch, range_bytes):
    monkeypatch.setattr(enc, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(enc, "RANGE_BYTES", range_bytes)
    src = write(tmp_path, "a.csv", ("订单编号,标题,备注\n" + _body()).encode("gb18030"))
    e = detect_encoding(src)
    seq = tmp_path / "seq.csv"
    r1 = enc.transcode_numbered(src, e, seq, 1, ",", fields={3, 4})
    parts, r2 = enc.transcode_numbered_parts(src, e, tmp_path / "parts", 1, ",", fields={3, 4}, workers=2)
    assert len(parts) >= 3
    assert "".join(p.read_text(encoding="utf-8") for p in parts) == seq.read_text(encoding="utf-8")
    assert (r1.records, r1.written, r1.last_line, r1.rejects) == (r2.records, r2.written, r2.last_line, r2.rejects)
    assert r1.rejects and r1.records == 401


def test_a_record_spanning_a_range_cut_is_read_once(tmp_path, monkeypatch):
    """Cuts fall inside long multi-line buyer messages: the worker of the earlier range reads
    on, the next range is done again from the line after the record."""
    monkeypatch.setattr(enc, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(enc, "RANGE_BYTES", 64)
    msg = "\n".join(f"第{k}行留言" for k in range(30))
    text = "订单编号,留言,金额\n" + "".join(f'{i},"{msg}",1.00\n' for i in range(6))
    src = write(tmp_path, "a.csv", text.encode("utf-8"))
    e = detect_encoding(src)
    seq = tmp_path / "seq.csv"
    r1 = enc.transcode_numbered(src, e, seq, 1, ",", fields={3})
    parts, r2 = enc.transcode_numbered_parts(src, e, tmp_path / "parts", 1, ",", fields={3}, workers=2)
    assert len(parts) > 6
    assert "".join(p.read_text(encoding="utf-8") for p in parts) == seq.read_text(encoding="utf-8")
    assert r1.records == r2.records == 6 and not r2.rejects
