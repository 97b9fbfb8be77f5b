"""Streaming writers: batches of row tuples in, encoded chunks out (CSV, NDJSON, Parquet).

Every writer yields after each batch, so memory holds one batch whatever the export's size;
Parquet writes one row group per batch.
"""

import csv
import io
import json
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, time
from decimal import Decimal
from enum import StrEnum
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from app.export.tables import ColumnType

Batch = Sequence[Sequence[Any]]


class Format(StrEnum):
    csv = "csv"
    ndjson = "ndjson"
    parquet = "parquet"


MEDIA_TYPES = {
    Format.csv: "text/csv; charset=utf-8",
    Format.ndjson: "application/x-ndjson",
    Format.parquet: "application/vnd.apache.parquet",
}
ARROW_TYPES = {
    ColumnType.string: pa.string(),
    ColumnType.integer: pa.int64(),
    ColumnType.number: pa.float64(),
    ColumnType.boolean: pa.bool_(),
    ColumnType.timestamp: pa.timestamp("us", tz="UTC"),
    ColumnType.time: pa.time64("us"),
    ColumnType.json: pa.string(),
}


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | time):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _json_text(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=_json_value)


def csv_number(value: Any) -> Any:
    """A number as PostgreSQL's COPY writes it: shortest round-trip digits, no '.0' on whole
    values, an exponent from 1e15 up and below 1e-4 ('1e+15', '1e-05')."""
    if not isinstance(value, float):
        return value
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    text = repr(value)
    if "e" not in text and abs(value) >= 1e15:  # Python's repr switches at 1e16
        return format(Decimal(text).normalize(), "e")
    return text.removesuffix(".0")


# The query renders booleans, JSON, strings and timestamps for CSV (TEXT_RENDERERS), as
# for COPY; numbers are written as COPY writes them.
_CSV_CONVERT: dict[ColumnType, Callable[[Any], Any]] = {ColumnType.number: csv_number}


def _converted(
    batch: Batch, converters: list[tuple[int, Callable[[Any], Any]]]
) -> Iterable[Sequence[Any]]:
    if not converters:
        return batch
    rows = []
    for row in batch:
        values = list(row)
        for index, convert in converters:
            values[index] = convert(values[index])
        rows.append(values)
    return rows


def write_csv(
    columns: Sequence[tuple[str, ColumnType]], batches: Iterable[Batch]
) -> Iterator[bytes]:
    buffer = io.StringIO()
    # The csv module quotes a field holding a character of the line terminator; with "\r\n"
    # that is every field with a CR or an LF, as COPY quotes them. Each row's own "\r\n" then
    # becomes "\n", COPY's line end.
    writer = csv.writer(buffer, lineterminator="\r\n")

    def write_row(row: Sequence[Any]) -> None:
        writer.writerow(row)
        buffer.seek(buffer.tell() - 2)
        buffer.write("\n")
        buffer.truncate()

    write_row([name for name, _ in columns])
    converters = [
        (index, _CSV_CONVERT[kind])
        for index, (_, kind) in enumerate(columns)
        if kind in _CSV_CONVERT
    ]
    for batch in batches:
        for row in _converted(batch, converters):
            write_row(row)
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue().encode()


def write_ndjson(
    columns: Sequence[tuple[str, ColumnType]], batches: Iterable[Batch]
) -> Iterator[bytes]:
    names = [name for name, _ in columns]
    for batch in batches:
        lines = [
            json.dumps(dict(zip(names, row, strict=True)), default=_json_value, ensure_ascii=False)
            for row in batch
        ]
        if lines:
            yield ("\n".join(lines) + "\n").encode()


class Drain(io.RawIOBase):
    """A write-only file whose contents are taken out after every row group."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._chunks.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def drain(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def write_parquet(
    columns: Sequence[tuple[str, ColumnType]], batches: Iterable[Batch]
) -> Iterator[bytes]:
    schema = pa.schema([pa.field(name, ARROW_TYPES[kind]) for name, kind in columns])
    sink = Drain()
    with pq.ParquetWriter(sink, schema, compression="zstd") as writer:
        for batch in batches:
            if not batch:
                continue
            arrays = []
            for (_, kind), values in zip(columns, zip(*batch, strict=True), strict=True):
                if kind == ColumnType.json:
                    values = tuple(_json_text(value) for value in values)
                arrays.append(pa.array(values, type=ARROW_TYPES[kind]))
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            yield sink.drain()
    yield sink.drain()


WRITERS = {Format.csv: write_csv, Format.ndjson: write_ndjson, Format.parquet: write_parquet}


def write(
    fmt: Format, columns: Sequence[tuple[str, ColumnType]], batches: Iterable[Batch]
) -> Iterator[bytes]:
    return WRITERS[fmt](columns, batches)
